"""The LightningModule that trains any (generator, critic, loss plug-in, constraint plug-ins): one grid point, or a
fused group of K points trained as one batched model (gansweep.fusion)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gansweep.config import UpdateScheme
from gansweep.constraints.base import Constraint
from gansweep.fusion.stacked import StackedNetwork
from gansweep.losses.base import CriticOutput, GANLoss
from gansweep.models.base import GANNetworks
from gansweep.noise import EVALUATION, PointNoise
from gansweep.optim import OptimizerFactory, SchedulerFactory, one_optimizer

UPDATES = tuple(scheme.value for scheme in UpdateScheme)  # train.update's choices
FORCED_FOREACH = "gansweep_foreach"  # a param-group key: `foreach` was set by a fused group, not by the user


@dataclass
class GANPoint:
    """One grid point's share of a module: its networks, constraints (prepared on its critic here, so a point built
    under its seed initialises alone and fused alike), (generator, critic) optimizer factories, EMA decay and seed
    (its noise streams, gansweep.noise)."""

    networks: GANNetworks
    constraints: Sequence[Constraint]
    optimizers: Tuple[OptimizerFactory, OptimizerFactory]
    ema: Optional[float] = None
    seed: int = 0

    def __post_init__(self) -> None:
        for constraint in self.constraints:
            constraint.prepare(self.networks.critic)


class GANModule(pl.LightningModule):
    """One training_step is one GENERATOR iteration: n_critic critic steps, each on its own real batch and
    fresh z, then one generator step. The batch holds those real batches stacked on dim 0.

    Losses and penalties return one value per point ([*points], see GANLoss); their sum is backpropagated.
    Nothing waits for the device between log intervals: divergence is flagged on the device and read every
    `log_every` generator iterations (and at the last one).

    K > 1 points (a fused group) train as one model: the networks are StackedNetworks of the points' own (real
    batches, z and scores lead with K), each optimizer holds one parameter group per point (its lr and betas),
    penalties weigh each point by its own lambda, and every random number comes from the point's own stream, so
    point k trains exactly as it would alone. A point whose loss turns non-finite is frozen (its gradients dropped)
    and the others go on; training stops when every point has diverged. K = 1 is an ordinary run.
    """

    first_non_finite: (
        Tensor  # a buffer [K]: each point's first generator iteration with a non-finite loss, -1 while none
    )

    def __init__(
        self,
        points: Union[GANPoint, Sequence[GANPoint]],
        loss: GANLoss,
        scheduler: Optional[SchedulerFactory] = None,
        generator_batch_size: Optional[int] = None,
        log_every: int = 50,
        update: str = "alternating",
    ) -> None:
        """scheduler: one per optimizer (each point's group decays alike), or None; update: "alternating" (n_critic
        critic steps, then a generator step against the updated critic) or "simultaneous" (the last critic step and
        the generator step from the gradients of one forward pass: Bures GAN's train_step when n_critic is 1; the
        critic then scores the generator's batch, generator_batch_size fakes, and penalties take the first pairs)."""
        super().__init__()
        if update not in UPDATES:
            raise ValueError(f"train.update={update!r} is not an option; choose one of {', '.join(UPDATES)}")
        self.update = update
        self.automatic_optimization = False
        points = [points] if isinstance(points, GANPoint) else list(points)
        if not points:
            raise ValueError("a GANModule trains at least one point")
        self.n_points, self.fused = len(points), len(points) > 1
        self.point_specs = points  # a plain list: the networks are registered through generator/critic below
        self.z_dim = _same("arch z_dim", [p.networks.z_dim for p in points])
        generators = [p.networks.generator for p in points]
        critics = [p.networks.critic for p in points]
        self.generator: nn.Module = StackedNetwork(generators) if self.fused else generators[0]
        self.critic: nn.Module = StackedNetwork(critics) if self.fused else critics[0]
        self.loss = loss
        self.constraints = _fuse_constraints(points) if self.fused else list(points[0].constraints)
        self.scheduler_factory = scheduler
        self.generator_batch_size, self.log_every = generator_batch_size, log_every
        self.latest_curves: Dict[str, float] = {}  # the last logged train/* values (point 0's in a group)
        self.point_curves: List[Dict[str, float]] = [{} for _ in points]  # each point's last logged values
        self.point_loggers: Optional[List[Sequence[Any]]] = None  # a group's loggers, per point (else self.loggers)
        self.ema_generator: Optional[nn.Module]
        self._averages: List[AveragedModel]
        self._ema_sampler: Tuple[nn.Module, ...]
        self.ema_generator, self._averages, self._ema_sampler = _ema(points, generators)
        self.noise = PointNoise([p.seed for p in points], self.fused)  # training: z and interpolation epsilon
        self.eval_noise = PointNoise([p.seed for p in points], self.fused, EVALUATION)
        self.point_eval_noise = [PointNoise([p.seed], False, EVALUATION) for p in points]  # one point's samples
        self.g_iters = 0  # a resumed run starts at its checkpoint's count (gansweep.callbacks.restore)
        self.last_iteration = 0  # the generator iteration this fit ends at, set when training starts
        self.diverged: List[Optional[int]] = [None] * self.n_points  # each point's first non-finite iteration
        self.failed = [False] * self.n_points  # a group's point whose own callbacks raised: frozen, out of the run
        # batch norm mixes the statistics of real and fake when they share a pass: score them separately
        self.critic_has_batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.critic.modules())
        self.register_buffer("first_non_finite", torch.full((self.n_points,), -1), persistent=False)

    @property
    def diverged_at(self) -> Optional[int]:
        """An ordinary run's first non-finite generator iteration (None while finite); a group's first point's."""
        return self.diverged[0]

    @property
    def batch_dims(self) -> int:
        """Dims before a sample's own: [K, N] in a group, [N] alone."""
        return 2 if self.fused else 1

    # -- optimizers ---------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """One generator and one critic optimizer; in a group, one parameter group per point."""
        specs = self.point_specs
        opt_g = one_optimizer([p.optimizers[0](p.networks.generator.parameters()) for p in specs])
        opt_d = one_optimizer([p.optimizers[1](p.networks.critic.parameters()) for p in specs])
        self.multi_tensor(opt_g, opt_d)
        if self.scheduler_factory is not None:
            return [opt_g, opt_d], [self.scheduler_factory(opt_g), self.scheduler_factory(opt_d)]
        return [opt_g, opt_d]

    def multi_tensor(self, *optimizers: Any) -> None:
        """A group's optimizers take the multi-tensor update (torch picks it by itself on CUDA only) where the user
        left `foreach` unset: K parameter groups of small tensors. A point's own checkpoint records `foreach` unset
        again (gansweep.fusion.views), so it resumes as its unfused run would."""
        if not self.fused:
            return
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                if group.get("foreach", False) is None:
                    group["foreach"] = True
                    group[FORCED_FOREACH] = True

    # -- training -----------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        """The fit runs the data module's items from g_iters on: one generator iteration each."""
        self.last_iteration = self.g_iters + int(self.trainer.num_training_batches)

    def _z(self, n: int, noise: Optional[PointNoise] = None) -> Tensor:
        """Noise [K, n, z_dim] from a group's streams, [n, z_dim] from one point's (training's by default)."""
        noise = noise or self.noise
        shape = (len(noise.keys), n, self.z_dim) if noise.fused else (n, self.z_dim)
        dtype: torch.dtype = self.dtype  # type: ignore[assignment]
        return noise.randn(shape, dtype)

    def _score(self, real: Tensor, fake: Tensor, features: bool = False) -> Tuple[CriticOutput, CriticOutput]:
        """The critic's outputs on a real and a fake batch: one pass for both, or two when batch norm would mix their
        statistics; with `features`, its last hidden features too."""
        if self.critic_has_batch_norm:
            return self._critic_output(real, features), self._critic_output(fake, features)
        n = real.shape[self.batch_dims - 1]
        both = self._critic_output(torch.cat([real, fake], dim=self.batch_dims - 1), features)
        if both.features is None:
            return CriticOutput(both.score[..., :n]), CriticOutput(both.score[..., n:])
        return (
            CriticOutput(both.score[..., :n], both.features[..., :n, :]),
            CriticOutput(both.score[..., n:], both.features[..., n:, :]),
        )

    def _critic_output(self, x: Tensor, features: bool) -> CriticOutput:
        return CriticOutput(*self.critic(x, return_features=True)) if features else CriticOutput(self.critic(x))

    def _penalty(self, real: Tensor, fake: Tensor, like: Tensor) -> Tensor:
        """The constraints' penalties on (real, detached fake) pairs, [*points] like `like` (zeros when none)."""
        n = min(real.shape[self.batch_dims - 1], fake.shape[self.batch_dims - 1])  # simultaneous: G's batch may differ
        real, fake = real.narrow(self.batch_dims - 1, 0, n), fake.detach().narrow(self.batch_dims - 1, 0, n)
        penalty = torch.zeros_like(like)
        for constraint in self.constraints:
            term = constraint.penalty(
                self.critic, real, fake, self.loss.penalty_transform, self.batch_dims, noise=self.noise
            )
            if term is not None:
                penalty = penalty + term
        return penalty

    def _after_critic_step(self, opt_d: Any) -> None:
        self._drop_frozen(self.critic)
        opt_d.step()
        for constraint in self.constraints:
            constraint.after_critic_step(self.critic)

    def _critic_step(self, opt_d: Any, real: Tensor) -> Dict[str, Tensor]:
        z = self._z(real.shape[self.batch_dims - 1])
        with torch.no_grad():
            fake = self.generator(z)
        real_out, fake_out = self._score(real, fake)
        d_loss = self.loss.critic_loss(real_out, fake_out)
        penalty = self._penalty(real, fake, d_loss)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward((d_loss + penalty).sum())
        self._after_critic_step(opt_d)
        return {"critic": d_loss.detach(), "penalty": penalty.detach()}

    def _simultaneous_step(self, opt_g: Any, opt_d: Any, real: Tensor) -> Dict[str, Tensor]:
        """One forward pass, then the critic's gradients from its loss and the generator's from its own, both at the
        same weights, and both steps (Bures GAN's train_step)."""
        fake = self.generator(self._z(self.generator_batch_size or real.shape[self.batch_dims - 1]))
        real_out, fake_out = self._score(real, fake, features=self.loss.needs_features)
        d_loss = self.loss.critic_loss(CriticOutput(real_out.score), CriticOutput(fake_out.score))
        penalty = self._penalty(real, fake, d_loss)
        g_loss = self.loss.generator_loss(fake_out, _detached(real_out))
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss.sum(), inputs=list(self.generator.parameters()), retain_graph=True)
        self.manual_backward((d_loss + penalty).sum(), inputs=list(self.critic.parameters()))
        self._after_critic_step(opt_d)
        self._after_generator_step(opt_g)
        return {"critic": d_loss.detach(), "penalty": penalty.detach(), "generator": g_loss.detach()}

    def _generator_step(self, opt_g: Any, real: Tensor, alternating: bool = False) -> Tensor:
        """One step on the GAN generator loss, or (alternating) on the loss's extra objective (Alt-Bures)."""
        fake = self.generator(self._z(self.generator_batch_size or real.shape[self.batch_dims - 1]))
        if alternating or self.loss.needs_features:
            fake_out = self._critic_output(fake, features=True)
            with torch.no_grad():
                real_out: Optional[CriticOutput] = self._critic_output(real, features=True)
        else:
            fake_out, real_out = self._critic_output(fake, features=False), None
        if alternating:
            assert real_out is not None
            g_loss = self.loss.alternating_generator_loss(fake_out, real_out)
            if g_loss is None:
                raise TypeError(f"{type(self.loss).__name__} draws an extra real batch but has no alternating loss")
        else:
            g_loss = self.loss.generator_loss(fake_out, real_out)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss.sum())
        self._after_generator_step(opt_g)
        return g_loss.detach()

    def _after_generator_step(self, opt_g: Any) -> None:
        self._drop_frozen(self.generator)
        opt_g.step()
        for k, average in enumerate(self._averages):  # none without train.ema
            spec = self.point_specs[k]
            if self.diverged[k] is None and not self.failed[k]:
                average.update_parameters(spec.networks.generator)

    def _drop_frozen(self, network: nn.Module) -> None:
        """A diverged point of a group is frozen: its gradients are dropped, so the optimizer skips its parameters."""
        if not self.fused:
            return
        for k, point in enumerate(network.points):  # type: ignore[arg-type]
            if self.diverged[k] is not None or self.failed[k]:
                for p in point.parameters():
                    p.grad = None

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self._optimizers()
        self._begin_noise(batch)
        reals = list(batch.unbind(0))
        logs: Dict[str, Tensor] = {}
        if self.loss.extra_real_batches:
            self.critic.requires_grad_(False)
            logs["alternating"] = self._generator_step(opt_g, reals.pop(0), alternating=True)
            self.critic.requires_grad_(True)
        simultaneous = self.update == "simultaneous"
        for real in reals[:-1] if simultaneous else reals:
            logs.update(self._critic_step(opt_d, real))
        if simultaneous:  # the last critic step and the generator step share one forward pass
            logs.update(self._simultaneous_step(opt_g, opt_d, reals[-1]))
        else:
            self.critic.requires_grad_(False)  # the generator step backpropagates through the critic, not into it
            logs["generator"] = self._generator_step(opt_g, reals[-1])
            self.critic.requires_grad_(True)
        for scheduler in self._schedulers():
            scheduler.step()
        self.g_iters += 1
        per_point = torch.stack([value.reshape(self.n_points) for value in logs.values()])  # [logs, K]
        finite = torch.isfinite(per_point).all(dim=0)
        self.first_non_finite = torch.where(finite | (self.first_non_finite >= 0), self.first_non_finite, self.g_iters)
        if self.g_iters % self.log_every == 0 or self.g_iters >= self.last_iteration:
            active = [
                k for k in range(self.n_points) if self.diverged[k] is None
            ]  # a point's last row: where it diverged
            self.check_divergence()
            self._log_curves(logs, active)

    def _begin_noise(self, batch: Tensor) -> None:
        """Each point's training stream at this generator iteration, told how much it will draw: z for every
        critic step and the generator step(s), one interpolation epsilon per critic step."""
        n = batch.shape[self.batch_dims]  # batch: [per_step, *points, N, ...]
        extra = self.loss.extra_real_batches
        critic_steps = batch.shape[0] - extra
        generator_n = self.generator_batch_size or n
        critic_z = (critic_steps - (self.update == "simultaneous")) * n  # simultaneous: the last scores G's own z
        normal = (critic_z + (1 + extra) * generator_n) * self.z_dim
        dtype: torch.dtype = self.dtype  # type: ignore[assignment]
        self.noise.begin(self.g_iters, self.device, dtype, normal=normal, uniform=critic_steps * n)

    def check_divergence(self) -> bool:
        """Reads the device-side flags (a host synchronisation: once per log interval, and before a checkpoint);
        records each point's first non-finite iteration once, and stops training when no point is left training.
        True once every point has diverged."""
        for k, first in enumerate(self.first_non_finite.tolist()):
            if first >= 0 and self.diverged[k] is None:
                self.diverged[k] = int(first)
        if self._all_out():
            self.trainer.should_stop = True
        return all(first is not None for first in self.diverged)

    def drop_point(self, k: int) -> None:
        """Take point k of a group out of training (its own callbacks failed): frozen like a diverged point; the
        fit stops once no point is left."""
        self.failed[k] = True
        if self._all_out():
            self.trainer.should_stop = True

    def _all_out(self) -> bool:
        return all(first is not None or failed for first, failed in zip(self.diverged, self.failed, strict=True))

    def _log_curves(self, logs: Dict[str, Tensor], points: Sequence[int]) -> None:
        """Each listed point's values straight to its loggers with step = generator iterations (Lightning's step
        counts every optimizer step); kept in `point_curves` (and `latest_curves`) for the progress bar."""
        critics = [spec.networks.critic for spec in self.point_specs]
        grad_norms = [_grad_norm(critic) for critic in critics]
        values: Dict[str, List[float]] = {f"train/{k}": v.reshape(self.n_points).tolist() for k, v in logs.items()}
        for k in points:
            curves = {name: row[k] for name, row in values.items()}
            grad_norm = grad_norms[k]
            if grad_norm is not None:  # still the last critic step's gradients: the generator step leaves them
                curves["train/critic_grad_norm"] = grad_norm
            self.point_curves[k] = curves
            for logger in self._loggers_of(k):
                logger.log_metrics(curves, step=self.g_iters)
        self.latest_curves = self.point_curves[0]

    def _loggers_of(self, k: int) -> Sequence[Any]:
        if not self.fused:
            return self.loggers
        return self.point_loggers[k] if self.point_loggers is not None else ()

    def _optimizers(self) -> List[Any]:
        return _as_list(self.optimizers())

    def _schedulers(self) -> List[Any]:
        return _as_list(self.lr_schedulers())

    # -- sampling -----------------------------------------------------------------------------------
    def sample(self, n: int, batch_size: int = 4096, point: Optional[int] = None) -> Tensor:
        """n generator samples from the evaluation stream at this generator iteration (continued by further calls at
        the same iteration), from the EMA generator when one is kept (LGAN's evaluation): every point's ([K, n, ...]
        in a group), or point `point`'s alone, drawn as its unfused run draws them."""
        noise = self.eval_noise if point is None else self.point_eval_noise[point]
        dtype: torch.dtype = self.dtype  # type: ignore[assignment]
        noise.at(self.g_iters, self.device, dtype, normal=n * self.z_dim)  # an evaluation's next batch: fresh z
        chunks = [self.generate(self._z(min(batch_size, n - i), noise), point) for i in range(0, n, batch_size)]
        return torch.cat(chunks, dim=1 if noise.fused else 0)

    @torch.no_grad()
    def generate(self, z: Tensor, point: Optional[int] = None) -> Tensor:
        """G(z) in eval mode (batch norm uses its running statistics), the EMA generator when one is kept; with
        `point`, that point's generator alone on z [n, z_dim]."""
        if point is None:
            generator = self._ema_sampler[0] if self._ema_sampler else self.generator
        else:
            generator = self._averages[point].module if self._averages else self.point_specs[point].networks.generator
        was_training = generator.training
        generator.eval()
        dtype: torch.dtype = self.dtype  # type: ignore[assignment]
        out = generator(z.to(self.device, dtype))  # a figure's fixed noise is float32 whatever the precision
        generator.train(was_training)
        return out


def _same(what: str, values: Sequence[Any]) -> Any:
    if any(value != values[0] for value in values[1:]):
        raise ValueError(f"the points of a fused group differ in {what} ({values}); run them unfused (fuse=1)")
    return values[0]


def _fuse_constraints(points: Sequence[GANPoint]) -> List[Constraint]:
    """Slot j of the group: the j-th constraint of every point, fused (per-point lambda or clip value)."""
    _same("constraint types", [[type(c).__name__ for c in p.constraints] for p in points])
    slots = zip(*(p.constraints for p in points), strict=True)
    return [type(slot[0]).fuse(slot) for slot in slots]


def _ema(
    points: Sequence[GANPoint], generators: Sequence[nn.Module]
) -> Tuple[Optional[nn.Module], List[AveragedModel], Tuple[nn.Module, ...]]:
    """(the registered EMA module: an AveragedModel of the generator, in a group a ModuleList of one per point with
    its own decay, or None; the averages; in a 1-tuple, so it is not registered twice, the network sampling them)."""
    decays = [p.ema for p in points]
    _same("whether train.ema is set", [decay is None for decay in decays])
    if decays[0] is None:
        return None, [], ()
    averages = [
        AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        for g, decay in zip(generators, decays, strict=True)
    ]
    if len(averages) == 1:
        return averages[0], averages, (averages[0].module,)
    return nn.ModuleList(averages), averages, (StackedNetwork([average.module for average in averages]),)


def _detached(out: CriticOutput) -> CriticOutput:
    return CriticOutput(out.score.detach(), None if out.features is None else out.features.detach())


def _grad_norm(network: nn.Module) -> Optional[float]:
    """The L2 norm of all of the network's gradients, None before any."""
    grads = [p.grad.norm() for p in network.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(grads))) if grads else None


def _as_list(value: Any) -> List[Any]:
    """Lightning returns one optimizer/scheduler bare, several as a list, none as None."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
