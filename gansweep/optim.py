"""Optimizers for the two networks from `optim.*`, handed to the module as factories, and linear decay."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterable, Optional, Sequence, Tuple

import torch
from hydra.utils import get_class
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]


def optimizer_factory(cfg: Any, lr: Optional[float] = None) -> OptimizerFactory:
    """cfg._target_ is an optimizer class; betas are passed only to optimizers that take them; lr defaults to cfg.lr."""
    kwargs = dict(cfg.extra or {})
    if cfg.betas is not None:
        kwargs["betas"] = tuple(float(b) for b in cfg.betas)
    lr = cfg.lr if lr is None else lr
    if lr <= 0:
        raise ValueError(f"learning rates must be > 0, got {lr} (optim.lr / optim.lr_generator / optim.lr_critic)")
    return partial(get_class(cfg._target_), lr=lr, **kwargs)


def optimizer_factories(cfg: Any) -> Tuple[OptimizerFactory, OptimizerFactory]:
    """(generator, critic) factories; optim.lr_generator / optim.lr_critic override optim.lr."""
    return optimizer_factory(cfg, cfg.lr_generator), optimizer_factory(cfg, cfg.lr_critic)


def one_optimizer(optimizers: Sequence[Optimizer]) -> Optimizer:
    """The points' optimizers as one: the first, holding every point's parameter group with its own hyperparameters
    (a fused group: per-point lr and betas; one group per point keeps each point's update its own)."""
    first = optimizers[0]
    for other in optimizers[1:]:
        if type(other) is not type(first):
            raise ValueError(f"a fused group's points use one optimizer class, got {type(first)} and {type(other)}")
        for group in other.param_groups:
            first.add_param_group(group)
    return first


def scheduler_factory(decay: str, iters: int) -> Optional[SchedulerFactory]:
    """optim.decay: none, or linear to 0 over `iters` generator iterations."""
    return partial(linear_decay, iters=iters) if decay == "linear" else None


class LinearDecay:
    """The lr factor 1 - (t - offset) / iters, floored at 0, at the scheduler's step t (generator iterations). `offset`
    is the step a fused group's slot took its point at (refill: that point's iteration 0); a class, not a lambda, so
    that a checkpoint's scheduler state holds it (LambdaLR saves a callable object's attributes)."""

    def __init__(self, iters: int, offset: int = 0) -> None:
        self.iters, self.offset = iters, offset

    def __call__(self, t: int) -> float:
        return max(0.0, 1.0 - (t - self.offset) / self.iters)


def linear_decay(optimizer: Optimizer, iters: int) -> LambdaLR:
    """lr * (1 - t / iters), stepped once per generator iteration; one factor per parameter group (a fused group's
    point), so that a slot's point can restart its own (restart_schedule)."""
    return LambdaLR(optimizer, [LinearDecay(iters) for _ in optimizer.param_groups])


def point_decay(scheduler: LRScheduler, k: int) -> LinearDecay:
    """Parameter group k's own schedule; a scheduler that has none for it (not optim.decay=linear's) raises."""
    decays = getattr(scheduler, "lr_lambdas", [])
    if k >= len(decays) or not isinstance(decays[k], LinearDecay):
        raise ValueError(f"{type(scheduler).__name__} cannot restart one point's schedule (only optim.decay=linear's)")
    return decays[k]


def restart_schedule(scheduler: LRScheduler, k: int) -> None:
    """Parameter group k's schedule starts again from its current lr (its new point's, gansweep.model.refill) at the
    scheduler's current step, as that point's own schedule starts; the other groups untouched."""
    decay = point_decay(scheduler, k)
    group = scheduler.optimizer.param_groups[k]
    group["initial_lr"] = scheduler.base_lrs[k] = group["lr"]
    decay.offset = scheduler.last_epoch
    scheduler._last_lr[k] = group["lr"]
