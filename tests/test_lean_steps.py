"""Steps without per-step overhead, with the same numbers: steps that call torch directly where nobody listens to
Lightning's step hooks (gansweep.model.lean) give the weights and Lightning's step count of Lightning's wrappers;
every listener (a point's callback, a fit's callback, the module) keeps the hooks; a loss-scaling precision plugin
keeps Lightning's path. A run alone computes without the point dim, bit-identical to the steps that keep it."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import pytorch_lightning as pl
import torch

from gansweep.model.lean import lean_applies, listened
from gansweep.model.module import GANModule
from gansweep.model.steps import Steps, begin_iteration, generator_iteration
from gansweep.noise import PointNoise
from gansweep.run.build import build_point
from tests.conftest import compose_config
from tests.helpers import fit_points

ITERS, N_CRITIC = 3, 2


class StepHooks(pl.Callback):
    """Counts the step hooks it gets."""

    def __init__(self) -> None:
        self.counts: Dict[str, int] = {"backward": 0, "after": 0, "optimizer": 0}

    def on_before_backward(self, trainer: Any, module: Any, loss: Any) -> None:
        self.counts["backward"] += 1

    def on_after_backward(self, trainer: Any, module: Any) -> None:
        self.counts["after"] += 1

    def on_before_optimizer_step(self, trainer: Any, module: Any, optimizer: Any) -> None:
        self.counts["optimizer"] += 1


def fit(seeds: List[int], callbacks: List[List[pl.Callback]]) -> GANModule:
    points = []
    for seed in seeds:
        data, loss, point = build_point(compose_config(["arch.hidden=8", f"seed={seed}", "train.n_critic=2"]))
        points.append((data, point))
    return fit_points(points, loss, ITERS, batch_size=16, n_critic=N_CRITIC, callbacks=callbacks)


def weights(module: GANModule) -> List[torch.Tensor]:
    return [
        t.detach().clone()
        for p in module.stack.points
        for net in (p.networks.generator, p.networks.critic)
        for t in net.state_dict().values()
    ]


@pytest.mark.parametrize("seeds", [[0], [0, 1]], ids=["alone", "fused"])
def test_lean_steps_give_the_weights_and_step_count_of_lightnings_path(seeds):
    lean = fit(seeds, [[] for _ in seeds])
    hooks = StepHooks()
    listened_to = fit(seeds, [[hooks]] + [[] for _ in seeds[1:]])
    assert lean.lean is True and listened_to.lean is False
    for a, b in zip(weights(lean), weights(listened_to), strict=True):
        assert torch.equal(a, b)
    steps = ITERS * (N_CRITIC + 1)
    assert lean.trainer.global_step == listened_to.trainer.global_step == steps
    assert hooks.counts == {"backward": steps, "after": steps, "optimizer": steps}


class _Fit:
    def __init__(self, callbacks: List[Any]) -> None:
        self.callbacks = callbacks


class Forwarding(pl.Callback):
    def __init__(self, hooks: List[str]) -> None:
        self.hooks = hooks

    def listens(self, hook: str) -> bool:
        return hook in self.hooks


class AfterBackward(GANModule):
    def on_after_backward(self) -> None:
        pass


def test_any_listener_keeps_the_hooks():
    data, loss, point = build_point(compose_config(["arch.hidden=8"]))
    module = GANModule(point, loss)
    assert not listened(_Fit([pl.Callback()]), module, "on_before_backward")
    assert listened(_Fit([StepHooks()]), module, "on_before_optimizer_step")
    assert listened(_Fit([Forwarding(["on_after_backward"])]), module, "on_after_backward")
    assert not listened(_Fit([Forwarding([])]), module, "on_after_backward")  # its own word, not its class's
    assert listened(_Fit([]), AfterBackward(point, loss), "on_after_backward")


@pytest.mark.parametrize(("precision", "lean"), [("32-true", True), ("64-true", True), ("bf16-mixed", False)])
def test_a_precision_plugin_that_changes_a_backward_keeps_lightnings_path(precision, lean):
    data, loss, point = build_point(compose_config(["arch.hidden=8"]))
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False, enable_progress_bar=False)
    assert lean_applies(trainer, GANModule(point, loss)) is lean


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # WGAN-GP
        ["loss=bures", "train.update=simultaneous"],  # the critic's features, one pass for both steps
        ["loss=alt_bures"],  # an extra real batch, the alternating generator step
        ["constraint=sn", "loss=hinge"],  # spectral norm's power iteration at every call
        ["constraint=clip"],
    ],
    ids=["wgan-gp", "bures-simultaneous", "alt-bures", "sn-hinge", "clip"],
)
def test_a_run_alone_computes_without_the_point_dim_and_the_same_numbers(overrides):
    """Steps on [N, ...] with the run's own networks (its noise unfused) against the same steps on [1, N, ...]
    through the stack: bit-identical weights and logs after three generator iterations."""
    cfg = compose_config(["arch.hidden=8", "train.n_critic=2", *overrides])
    results = []
    for unbatched in (True, False):
        data, loss, point = build_point(cfg)
        update = str(cfg.train["update"].value)
        module = GANModule(point, loss, update=update)
        if not unbatched:  # the point dim kept, as a fused group's steps compute
            module.steps = Steps(module.stack, loss, PointNoise([point.seed], fused=True))
        assert module.steps.unbatched is unbatched
        opt_g, opt_d = (
            factory(net.parameters())
            for factory, net in zip(point.optimizers, (point.networks.generator, point.networks.critic), strict=True)
        )
        data.configure_batches(16, 2 + loss.extra_real_batches, 3)
        data.setup("fit")
        logged = []
        for g_iters, batch in enumerate(data.train_dataloader()):
            batch = batch.unsqueeze(1)  # [per_step, K = 1, N, ...]
            begin_iteration(module.steps, g_iters, batch, update, torch.device("cpu"))
            reals = batch.select(1, 0) if unbatched else batch
            logs = generator_iteration(module.steps, opt_g, opt_d, list(reals.unbind(0)), update)
            logged.append({name: value.reshape(1) for name, value in logs.items()})
        results.append((weights(module), logged))
    (alone, alone_logs), (batched, batched_logs) = results
    for a, b in zip(alone, batched, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(alone_logs, batched_logs, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
