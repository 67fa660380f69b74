"""Lightning's per-step wrappers, skipped where they would only dispatch hooks nobody listens to.

manual_backward and LightningOptimizer.step call on_before_backward, on_after_backward and on_before_optimizer_step
on every callback and the module at each optimizer step (n_critic + 1 per generator iteration): about 0.6 ms of
Python per generator iteration on 2 CPU cores, ~3% of benchmarks/toy_step.py's WGAN-GP step. Where no callback and not
the module listens, and neither the strategy nor the precision plugin adds anything to a backward or a step (fp32/fp64
on one device: no loss scaling, no gradient sync), a step calls torch directly; Lightning still counts each optimizer
step (trainer.global_step).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.plugins.precision.precision import Precision
from pytorch_lightning.strategies.strategy import Strategy
from pytorch_lightning.utilities.model_helpers import is_overridden

STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def lean_applies(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """Whether a step may call torch directly: nothing listens to the step hooks and the plugins add nothing."""
    if is_overridden("backward", module, parent=pl.LightningModule) or getattr(module, "_fabric", None) is not None:
        return False
    if not all(_inherited(trainer.strategy, Strategy, name) for name in _STRATEGY_STEPS):
        return False
    if not all(_inherited(trainer.precision_plugin, Precision, name) for name in _PRECISION_STEPS):
        return False
    if not all(hasattr(optimizer, "_on_before_step") for optimizer in trainer.strategy._lightning_optimizers):
        return False  # Lightning's loop counts a step through these (2.x); without them, its own step counts it
    return not any(listened(trainer, module, hook) for hook in STEP_HOOKS)


def listened(trainer: Any, module: pl.LightningModule, hook: str) -> bool:
    """Whether a callback or the module implements `hook`; a callback that forwards hooks says so with listens()."""
    for callback in trainer.callbacks:
        listens = getattr(callback, "listens", None)
        if listens(hook) if callable(listens) else is_overridden(hook, callback, parent=pl.Callback):
            return True
    return is_overridden(hook, module, parent=pl.LightningModule)


class LeanStep:
    """A LightningOptimizer's step as torch's, counted by Lightning's loop as its own step is (no closure, no hooks)."""

    def __init__(self, lightning_optimizer: Any) -> None:
        self.wrapped = lightning_optimizer
        self.optimizer = lightning_optimizer.optimizer

    def step(self) -> None:
        self.wrapped._on_before_step()
        self.optimizer.step()
        self.wrapped._on_after_step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)


_STRATEGY_STEPS = ("backward", "pre_backward", "post_backward", "optimizer_step")
_PRECISION_STEPS = ("pre_backward", "backward", "post_backward", "optimizer_step")


def _inherited(obj: Any, base: type, name: str) -> bool:
    return getattr(type(obj), name) is getattr(base, name)
