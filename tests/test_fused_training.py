"""A fused group trains each of its points exactly as that point trains alone: every parameter and every logged
loss of fused point k equals the unfused run k with the same config and seed (float64, CPU), for toy WGAN-GP over
lr x GP weight x seed, WGAN with per-point clip values, betas and EMA decays, DCGAN with spectral norm, and Bures
(per-point covariances); a point poisoned with NaN is frozen and recorded at its iteration while the others go on
untouched."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import Tensor

from gansweep.constraints.spectral_norm import SpectralNorm
from gansweep.losses.nsgan import NSGANLoss
from gansweep.model.module import GANModule
from gansweep.model.points import GANPoint
from gansweep.model.view import PointView
from gansweep.models.dcgan import build_dcgan
from gansweep.run.build import build_point
from tests.conftest import compose_config
from tests.helpers import BlowUp, BoundedWGAN, InMemory, fit_points

Built = Tuple[Any, Any, GANPoint]  # (data module, loss, point), as gansweep.run.build.build_point returns


class Capture(Logger):
    """Every logged row, (step, metrics)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: List[Tuple[int, Dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "capture"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: Dict[str, float], step: Optional[int] = None) -> None:
        self.rows.append((int(step or 0), dict(metrics)))


def fit(
    points: Sequence[Built],
    fused: bool,
    iters: int,
    batch_size: int,
    n_critic: int,
    precision: str = "64-true",
    callbacks: Sequence[Sequence[pl.Callback]] = (),
    decay: str = "none",
    update: str = "alternating",
    g_batch: Optional[int] = None,
) -> Tuple[List[GANModule], List[Capture]]:
    """Train `points` as one group (fused) or one after another; (modules, each point's captured curves)."""
    runs = [list(range(len(points)))] if fused else [[k] for k in range(len(points))]
    modules, captures = [], []
    for run in runs:
        logs = [Capture() for _ in run]
        module = fit_points(
            [(points[k][0], points[k][2]) for k in run],
            points[run[0]][1],
            iters,
            batch_size,
            n_critic,
            callbacks=[list(callbacks[k]) if callbacks else [] for k in run],
            loggers=[[log] for log in logs],
            precision=precision,
            decay=decay,
            update=update,
            g_batch=g_batch,
        )
        modules.append(module)
        captures.extend(logs)
    return modules, captures


def point_state(point: GANPoint) -> Dict[str, Tensor]:
    """Every tensor of the point's networks (spectral norm's vectors and batch-norm statistics included)."""
    state = {f"generator.{k}": v for k, v in point.networks.generator.state_dict().items()}
    state.update({f"critic.{k}": v for k, v in point.networks.critic.state_dict().items()})
    return state


def assert_same_training(
    alone: Sequence[GANPoint],
    fused: Sequence[GANPoint],
    alone_curves: Sequence[Capture],
    fused_curves: Sequence[Capture],
    atol: float,
    rtol: float = 0.0,
) -> None:
    for k, (a, f) in enumerate(zip(alone, fused, strict=True)):
        sa, sf = point_state(a), point_state(f)
        assert sa.keys() == sf.keys()
        for key in sa:
            torch.testing.assert_close(
                sf[key], sa[key], atol=atol, rtol=rtol, msg=lambda m, k=k, key=key: f"point {k} {key}: {m}"
            )
        rows_a, rows_f = alone_curves[k].rows, fused_curves[k].rows
        assert [step for step, _ in rows_f] == [step for step, _ in rows_a] and rows_a
        for (step, ma), (_, mf) in zip(rows_a, rows_f, strict=True):
            assert ma.keys() == mf.keys()
            for name in ma:
                assert mf[name] == pytest.approx(ma[name], abs=atol, rel=rtol), f"point {k} {name} at {step}"


def built(overrides: Sequence[str]) -> Built:
    return build_point(compose_config(list(overrides)))


def compare(make: Callable[[], List[Built]], atol: float, precision: str = "64-true", **train: Any) -> None:
    alone, alone_curves = fit(make(), fused=False, precision=precision, **train)
    fused, fused_curves = fit(make(), fused=True, precision=precision, **train)
    alone_points = [point for module in alone for point in module.stack.points]
    assert len(fused) == 1 and fused[0].n_points > 1
    assert_same_training(alone_points, fused[0].stack.points, alone_curves, fused_curves, atol=atol)


TOY = ["arch.hidden=32", "train.n_critic=5"]
WGAN_GP_GRID = [("1e-4", "0.1", 0), ("1e-4", "10", 1), ("5e-4", "0.1", 1), ("5e-4", "10", 0)]  # lr, lambda, seed


def test_toy_wgan_gp_over_lr_gp_weight_and_seed_equals_each_point_alone():
    """K = 4, 50 generator iterations, n_critic 5: every parameter and logged loss within 1e-8 in float64."""

    def make() -> List[Built]:
        return [built([*TOY, f"optim.lr={lr}", f"constraint.gp.weight={w}", f"seed={s}"]) for lr, w, s in WGAN_GP_GRID]

    compare(make, atol=1e-8, iters=50, batch_size=64, n_critic=5)


def test_wgan_with_per_point_clip_betas_ema_and_linear_decay_equals_each_point_alone():
    grid = [("0.01", "[0.5,0.9]", "0.99", 0), ("0.05", "[0.0,0.9]", "0.9", 1), ("0.02", "[0.5,0.999]", "0.999", 2)]

    def make() -> List[Built]:
        return [
            built(
                [
                    *TOY,
                    "constraint=clip",
                    f"constraint.clip.clip={c}",
                    f"optim.betas={b}",
                    f"train.ema={e}",
                    f"seed={s}",
                ]
            )
            for c, b, e, s in grid
        ]

    alone, alone_curves = fit(make(), fused=False, iters=20, batch_size=32, n_critic=3, decay="linear")
    fused, fused_curves = fit(make(), fused=True, iters=20, batch_size=32, n_critic=3, decay="linear")
    alone_points = [point for module in alone for point in module.stack.points]
    assert_same_training(alone_points, fused[0].stack.points, alone_curves, fused_curves, atol=1e-8)
    for module, k in zip(alone, range(3), strict=True):  # each point's EMA generator, and samples drawn from it
        ema_alone = module.stack.averages[0].module.state_dict()
        ema_fused = fused[0].stack.averages[k].module.state_dict()
        for key in ema_alone:
            torch.testing.assert_close(ema_fused[key], ema_alone[key], atol=1e-8, rtol=0)
        samples = PointView(module, 0).sample(100, batch_size=50)
        assert not torch.allclose(samples[:50], samples[50:])  # each chunk its own noise
        torch.testing.assert_close(PointView(fused[0], k).sample(100, batch_size=50), samples, atol=1e-8, rtol=0)
    again = PointView(alone[0], 0).sample(100, batch_size=50)  # an evaluation's next call at the same iteration goes on
    assert not torch.allclose(again, PointView(alone[0], 0).sample(100, batch_size=50))
    clipped = [max(p.abs().max().item() for p in point.networks.critic.parameters()) for point in fused[0].stack.points]
    assert clipped == pytest.approx([0.01, 0.05, 0.02])  # each point clipped to its own c


def dcgan_point(seed: int, lr: float) -> Built:
    torch.manual_seed(seed)
    networks = build_dcgan((3, 32, 32), z_dim=16, dim=4)
    adam = partial(torch.optim.Adam, lr=lr, betas=(0.5, 0.999))
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = InMemory(images, dequantize=True)  # its uniform noise from each point's own stream
    data.seed = seed  # each point its own order of the same images
    return data, NSGANLoss(), GANPoint(networks, [SpectralNorm()], (adam, adam), seed=seed)


def test_dcgan_with_a_batch_norm_critic_equals_each_point_alone():
    """A critic with batch norm scores real and fake batches apart in the group as alone (one pass would mix their
    statistics), each point with its own running statistics."""

    def make() -> List[Built]:
        points = []
        for seed, lr in ((0, 2e-4), (1, 1e-3)):
            data, loss, point = dcgan_point(seed, lr)
            torch.manual_seed(seed)
            point.networks = build_dcgan((3, 32, 32), z_dim=16, dim=4, critic_norm="batch")
            point.constraints = []
            points.append((data, loss, point))
        return points

    compare(make, atol=1e-10, iters=3, batch_size=8, n_critic=2)


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_dcgan_with_spectral_norm_equals_each_point_alone(update):
    """Each point's power iteration runs on its own weights: the u vectors match too."""

    def make() -> List[Built]:
        return [dcgan_point(0, 2e-4), dcgan_point(1, 2e-4), dcgan_point(0, 1e-3)]

    compare(make, atol=1e-8, iters=4, batch_size=8, n_critic=2, update=update)


def test_simultaneous_updates_with_a_gradient_penalty_and_a_larger_generator_batch_equal_each_point_alone():
    """The critic scores G's own batch (16 fakes against 8 reals); the penalty takes the first 8 pairs."""

    def make() -> List[Built]:
        return [built([*TOY, f"optim.lr={lr}", f"constraint.gp.weight={w}", f"seed={s}"]) for lr, w, s in WGAN_GP_GRID]

    alone, alone_curves = fit(make(), fused=False, iters=6, batch_size=8, n_critic=2, update="simultaneous", g_batch=16)
    fused, fused_curves = fit(make(), fused=True, iters=6, batch_size=8, n_critic=2, update="simultaneous", g_batch=16)
    alone_points = [point for module in alone for point in module.stack.points]
    assert_same_training(alone_points, fused[0].stack.points, alone_curves, fused_curves, atol=1e-8)


@pytest.mark.parametrize(
    "loss, update",
    [("bures", "simultaneous"), ("alt_bures", "simultaneous"), ("bures", "alternating"), ("alt_bures", "alternating")],
)
def test_bures_with_per_point_covariances_equals_each_point_alone(loss, update):
    small = ["arch.hidden=16", "arch.z_dim=8", "dataset.n_points=512"]

    def make() -> List[Built]:
        return [
            built(["protocol=bures_synthetic", f"loss={loss}", *small, f"optim.lr={lr}", f"seed={s}"])
            for lr, s in [("1e-3", 0), ("1e-3", 1), ("3e-4", 2)]
        ]

    compare(make, atol=1e-8, iters=10, batch_size=32, n_critic=1, update=update)


def test_float32_fused_points_stay_within_a_stated_tolerance():
    """float32: batched and single matmuls round differently; after 5 generator iterations every parameter and loss
    is within 1e-5 of the point trained alone."""

    def make() -> List[Built]:
        return [built([*TOY, f"optim.lr={lr}", f"constraint.gp.weight={w}", f"seed={s}"]) for lr, w, s in WGAN_GP_GRID]

    compare(make, atol=1e-5, precision="32-true", iters=5, batch_size=64, n_critic=5)


class Poison(pl.Callback):
    """A point's callback: before generator iteration `at`, its critic weights become NaN; its state after that
    iteration (where the divergence is read, log_every 1) is kept in `after`."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.after: Dict[str, Tensor] = {}

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if module.g_iters + 1 == self.at:
            with torch.no_grad():
                next(module.critic.parameters()).fill_(float("nan"))

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if module.g_iters == self.at:
            self.after = {f"critic.{k}": v.clone() for k, v in module.critic.state_dict().items()}
            self.after.update({f"generator.{k}": v.clone() for k, v in module.generator.state_dict().items()})


def test_a_point_that_diverges_inside_a_group_is_frozen_and_the_others_go_on_untouched():
    def make() -> List[Built]:
        return [built([*TOY, f"optim.lr={lr}", f"constraint.gp.weight={w}", f"seed={s}"]) for lr, w, s in WGAN_GP_GRID]

    train = dict(iters=20, batch_size=32, n_critic=2)
    clean, clean_curves = fit(make(), fused=True, **train)
    poison = Poison(at=10)
    poisoned, poisoned_curves = fit(make(), fused=True, callbacks=[[], [], [poison], []], **train)
    module = poisoned[0]
    assert [p.diverged_at for p in module.health.points] == [None, None, 10, None] and module.g_iters == 20
    for k in (0, 1, 3):
        a, b = point_state(clean[0].stack.points[k]), point_state(module.stack.points[k])
        assert all(torch.equal(a[key], b[key]) for key in a), f"point {k} changed"
        assert poisoned_curves[k].rows == clean_curves[k].rows
    assert [step for step, _ in poisoned_curves[2].rows] == list(range(1, 11))  # its last row: where it diverged
    frozen = point_state(module.stack.points[2])
    for key, value in poison.after.items():  # frozen from the iteration its divergence was read on
        torch.testing.assert_close(frozen[key], value, atol=0, rtol=0, equal_nan=True)


def blown(make: Callable[[], List[Built]]) -> Callable[[], List[Built]]:
    """The same points with the bounded WGAN loss (a critic score beyond 1e6 on real data raises)."""
    return lambda: [(data, BoundedWGAN(), point) for data, _, point in make()]


@pytest.mark.parametrize("arch", ["mlp", "dcgan_sn"])
def test_a_point_whose_loss_raises_inside_a_group_fails_alone_and_the_others_stay_bit_identical(arch):
    """Point 2's critic blows up before iteration 6 and the loss raises in the group's batched step: point 2 alone is
    recorded failed with that error after its 5 iterations; the others train on, every tensor and every logged loss
    equal to the clean group's, bit for bit (float64). With DCGAN + spectral norm, the failed step's forward pass had
    advanced every point's power iteration: put back before the step is computed again."""
    if arch == "mlp":
        make = blown(
            lambda: [
                built([*TOY, f"optim.lr={lr}", f"constraint.gp.weight={w}", f"seed={s}"]) for lr, w, s in WGAN_GP_GRID
            ]
        )
    else:
        make = blown(lambda: [dcgan_point(0, 2e-4), dcgan_point(1, 2e-4), dcgan_point(0, 1e-3), dcgan_point(2, 1e-4)])
    train = dict(iters=10, batch_size=8, n_critic=2)
    clean, clean_curves = fit(make(), fused=True, **train)
    poisoned, poisoned_curves = fit(make(), fused=True, callbacks=[[], [], [BlowUp(at=6)], []], **train)
    module = poisoned[0]
    statuses = [(p.status, p.ended_at) for p in module.health.points]
    assert statuses == [("ok", 10), ("ok", 10), ("failed", 5), ("ok", 10)]
    assert module.health.points[2].error == "FloatingPointError: critic scores beyond 1e+06"
    assert "critic_loss" in (module.health.points[2].traceback or "")  # its own traceback, from its own probe
    for k in (0, 1, 3):
        a, b = point_state(clean[0].stack.points[k]), point_state(module.stack.points[k])
        assert all(torch.equal(a[key], b[key]) for key in a), f"point {k} changed"
        assert poisoned_curves[k].rows == clean_curves[k].rows
    assert [step for step, _ in poisoned_curves[2].rows] == [1, 2, 3, 4, 5]


def test_an_error_every_point_raises_fails_every_point_with_it():
    """Not one point's error: the group's. Each point is recorded failed with it; nothing is left training."""

    def make() -> List[Built]:
        return blown(lambda: [built([*TOY, f"seed={s}"]) for s in range(3)])()

    modules, _ = fit(make(), fused=True, iters=6, batch_size=8, n_critic=1, callbacks=[[BlowUp(at=3)]] * 3)
    assert [(p.status, p.ended_at) for p in modules[0].health.points] == [("failed", 2)] * 3
    assert {p.error for p in modules[0].health.points} == {"FloatingPointError: critic scores beyond 1e+06"}
