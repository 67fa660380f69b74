"""The LightningModule that trains K >= 1 points (a run is the group of one): it holds the parts (gansweep.model.stack,
steps, health, sampling) and calls them once per training_step, which is one GENERATOR iteration."""

from __future__ import annotations

import contextlib
import math
import traceback
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import pytorch_lightning as pl
import torch
from torch import Tensor

from gansweep.config import UpdateScheme
from gansweep.losses.base import GANLoss
from gansweep.model.health import DIVERGED, OK, PRUNED, TRAINING, Health
from gansweep.model.isolation import Isolation
from gansweep.model.lean import LeanStep, lean_applies
from gansweep.model.points import GANPoint
from gansweep.model.sampling import Sampler
from gansweep.model.stack import GANStack
from gansweep.model.steps import Steps, begin_iteration, generator_iteration, plain_backward
from gansweep.noise import PointNoise
from gansweep.optim import SchedulerFactory, one_optimizer

UPDATES = tuple(scheme.value for scheme in UpdateScheme)  # train.update's choices


class GANModule(pl.LightningModule):
    """One training_step is one generator iteration: n_critic critic steps, each on its own real batch and fresh z,
    then one generator step; the batch holds those real batches, [per_step, K, N, ...].

    Every random number comes from the point's own stream and every loss is per point, so point k trains exactly
    as it would alone. Nothing waits for the device between log intervals: divergence is flagged on the device and
    read every `log_every` generator iterations (and at the last one). A point that diverges, or whose own values
    make a step raise, leaves training (health.py, isolation.py); the others go on; the fit stops when none is left.
    """

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
        the generator step from the gradients of one forward pass: Bures GAN's train_step)."""
        super().__init__()
        if update not in UPDATES:
            raise ValueError(f"train.update={update!r} is not an option; choose one of {', '.join(UPDATES)}")
        self.automatic_optimization = False
        points = [points] if isinstance(points, GANPoint) else list(points)
        self.n_points = len(points)
        self.health = Health(self.n_points, on_end=self._left)
        self.stack = GANStack(points, self.health)
        self.loss, self.update, self.scheduler_factory = loss, update, scheduler
        self.log_every = log_every
        self.sampler = Sampler(self.stack)
        noise = PointNoise([p.seed for p in points], fused=len(points) > 1)  # training: z and interpolation epsilon
        self.steps = Steps(self.stack, loss, noise, generator_batch_size)
        if self.n_points > 1:  # a run alone has no other point to isolate: an error is its own
            self.steps.run = Isolation(self.stack, noise, self._failed, self._quiet)
        self.point_curves: List[Dict[str, float]] = [{} for _ in range(self.n_points)]  # the last logged train/*
        self.point_loggers: List[Sequence[Any]] = [() for _ in range(self.n_points)]
        self.g_iters = 0  # a resumed run starts at its checkpoint's count (gansweep.callbacks.restore)
        self.last_iteration = 0  # the generator iteration each point's run ends at (its own count), set at the start
        self.budget: Optional[int] = None  # the points' train.iters: last_iteration of a fit whose data never ends
        self.lean: Optional[bool] = None  # steps call torch directly (gansweep.model.lean); None: decide at next step

    # -- the run's clock (gansweep.model.view.RunClock; each point's view is a gansweep.model.view.PointView) --------
    @property
    def latest_curves(self) -> Dict[str, float]:
        """The first training point's latest curves (the progress bar's)."""
        training = self.health.training()
        return self.point_curves[training[0] if training else 0]

    # -- optimizers --------------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """One generator and one critic optimizer, each with one parameter group per point (its own hyperparameters and
        state), updating the stacked tensors at once where the networks are stacked (gansweep.model.stacked_optim)."""
        specs = self.stack.points
        stack = self.stack
        opt_g = stack.fused_optimizer(
            one_optimizer([p.optimizers[0](p.networks.generator.parameters()) for p in specs]), stack.generator
        )
        opt_d = stack.fused_optimizer(
            one_optimizer([p.optimizers[1](p.networks.critic.parameters()) for p in specs]), stack.critic
        )
        if self.scheduler_factory is not None:
            return [opt_g, opt_d], [self.scheduler_factory(opt_g), self.scheduler_factory(opt_d)]
        return [opt_g, opt_d]

    # -- training ----------------------------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        """The fit runs the data module's items from g_iters on: one generator iteration each."""
        batches = self.trainer.num_training_batches
        if math.isinf(batches) and self.budget is None:
            raise ValueError("a fit whose data never ends (a refilled group's) needs the points' budget: module.budget")
        self.last_iteration = self.g_iters + int(batches) if not math.isinf(batches) else int(self.budget or 0)
        self.steps.dtype = self.dtype  # type: ignore[assignment]
        self.lean = None

    def _step_optimizers(self) -> List[Any]:
        """The generator's and the critic's optimizer for this iteration's steps, Lightning's or (nothing listening to
        the step hooks) torch's (gansweep.model.lean); decided at the first step and again after a refill."""
        if self.lean is None:
            self.lean = lean_applies(self.trainer, self)
            self.steps.backward = plain_backward if self.lean else self.manual_backward
        optimizers = _as_list(self.optimizers())
        return [LeanStep(optimizer) for optimizer in optimizers] if self.lean else optimizers

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        if not self.health.any_training():  # every run ended in this iteration's hooks: the fit stops after it
            return
        opt_g, opt_d = self._step_optimizers()
        if batch.is_floating_point() and batch.dtype != self.dtype:  # data in float32, networks in float64 (64-true)
            batch = batch.to(self.dtype)
        begin_iteration(self.steps, self.g_iters, batch, self.update, self.device)
        reals = batch.select(1, 0) if self.steps.unbatched else batch  # a run alone computes without the point dim
        logs = generator_iteration(self.steps, opt_g, opt_d, list(reals.unbind(0)), self.update)
        for scheduler in _as_list(self.lr_schedulers()):
            scheduler.step()
        self.g_iters += 1
        self.health.watch(torch.stack([value.reshape(self.n_points) for value in logs.values()]), self.g_iters)
        due = [k for k in self.health.training() if self._log_due(self.own_iters(k))]
        if due:  # each point reads its flag and logs at its own interval, as alone
            self.health.read(self.g_iters, due)
            self._log_curves(logs, [k for k in self.completed() if k in due])

    def _log_due(self, own: int) -> bool:
        return own % self.log_every == 0 or own >= self.last_iteration

    def own_iters(self, k: int) -> int:
        """The generator iterations point k has trained (the group's, less where its slot took it, refill)."""
        return self.g_iters - self.health.offsets[k]

    def completed(self) -> List[int]:
        """The points that completed the current generator iteration: still training, or diverged at its read, or
        pruned after it."""
        return [
            k
            for k, point in enumerate(self.health.points)
            if point.status == TRAINING or point.status in (DIVERGED, PRUNED) and self.health.ended_now(k, self.g_iters)
        ]

    def _failed(self, culprits: Dict[int, Tuple[BaseException, str]]) -> None:
        """Points whose own values made a step raise (gansweep.model.isolation): failed, unless they had diverged,
        at the iterations they completed."""
        self.health.read(self.g_iters, list(culprits))  # a divergence not read yet comes first
        for k, (error, trace) in culprits.items():
            if self.health.points[k].status == TRAINING:
                self.health.fail(k, error, trace, self.g_iters)

    def fail_point(self, k: int, error: BaseException) -> None:
        """Point k's own callbacks raised: it leaves training, recorded failed; the others go on."""
        self.health.fail(k, error, traceback.format_exc(), self.g_iters)

    def prune_point(self, k: int) -> None:
        """Point k's trial was pruned after this iteration's evaluation: it leaves the stack (the others go on,
        untouched) and ends as `pruned`, with its end-of-run callbacks (checkpoint, samples) still to run."""
        if self.health.points[k].status == TRAINING:
            self.health.end(k, PRUNED, self.g_iters)

    def finish_point(self, k: int) -> None:
        """Point k's run ended as a finished one (its budget, or its callbacks stopped it)."""
        self.health.end(k, OK, self.g_iters)

    def refill(self, k: int, point: GANPoint, loggers: Sequence[Any] = ()) -> None:
        """Slot k, whose run has ended, takes `point` (built alone under its own seed, not trained) from the current
        generator iteration on, as its iteration 0: its networks' initial state, constraints, optimizer
        hyperparameters, EMA decay and noise streams; fresh optimizer state and EMA; the other slots untouched. The
        slot then trains as the point would alone (gansweep.callbacks.refill)."""
        from gansweep.model.refill import refill_slot

        if self.health.points[k].status == TRAINING:
            raise ValueError(f"slot {k} still trains its point: only a slot whose run ended takes another")
        refill_slot(self, k, point)
        self.point_curves[k] = {}
        self.point_loggers[k] = list(loggers)
        self.health.restart(k, self.g_iters)
        self.stack.reroute()
        self.lean = None  # the new point's callbacks may listen to the step hooks

    def _left(self, k: int) -> None:
        """Health's word that point k's run ended: its slot leaves the batched computation; with no point left
        training, the fit stops."""
        self.stack.reroute()
        if not self.health.any_training() and self._trainer is not None:
            self.trainer.should_stop = True

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Isolation's probes backpropagate without Lightning's backward hooks (a step's hooks fire once)."""
        backward = self.steps.backward
        self.steps.backward = plain_backward
        try:
            yield
        finally:
            self.steps.backward = backward

    def _log_curves(self, logs: Dict[str, Tensor], points: Sequence[int]) -> None:
        """Each listed point's values to its own loggers, step = generator iterations (Lightning's global step counts
        every optimizer step); kept in `point_curves` for the progress bar and the views."""
        values = {f"train/{name}": value.reshape(self.n_points).tolist() for name, value in logs.items()}
        for k in points:
            curves = {name: row[k] for name, row in values.items()}
            grad_norm = _grad_norm(self.stack.critic.point_grads(k).values())
            if grad_norm is not None:  # still the last critic step's gradients: the generator step leaves them
                curves["train/critic_grad_norm"] = grad_norm
            self.point_curves[k] = curves
            for logger in self.point_loggers[k]:
                logger.log_metrics(curves, step=self.own_iters(k))


def _grad_norm(grads: Iterable[Optional[Tensor]]) -> Optional[float]:
    """The L2 norm of a point's gradients, None before any."""
    norms = [grad.norm() for grad in grads if grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else None


def _as_list(value: Any) -> List[Any]:
    """Lightning returns one optimizer/scheduler bare, several as a list, none as None."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
