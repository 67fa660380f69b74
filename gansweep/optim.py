"""Optimizers for the two networks from `optim.*`, with optional linear decay in generator iterations."""

from __future__ import annotations

from typing import Any, Iterable, Optional, Tuple

import torch
from hydra.utils import get_class
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def build_optimizer(cfg: Any, params: Iterable[torch.nn.Parameter], lr: Optional[float]) -> Optimizer:
    """cfg._target_ is an optimizer class; betas are passed only to optimizers that take them."""
    kwargs = dict(cfg.extra or {})
    if cfg.betas is not None:
        kwargs["betas"] = tuple(float(b) for b in cfg.betas)
    lr = cfg.lr if lr is None else lr
    if lr <= 0:
        raise ValueError(f"learning rates must be > 0, got {lr} (optim.lr / optim.lr_generator / optim.lr_critic)")
    return get_class(cfg._target_)(params, lr=lr, **kwargs)


def build_optimizers(cfg: Any, generator: torch.nn.Module, critic: torch.nn.Module) -> Tuple[Optimizer, Optimizer]:
    return (
        build_optimizer(cfg, generator.parameters(), cfg.lr_generator),
        build_optimizer(cfg, critic.parameters(), cfg.lr_critic),
    )


def linear_decay(optimizer: Optimizer, iters: int) -> LambdaLR:
    """lr * (1 - t / iters), stepped once per generator iteration."""
    return LambdaLR(optimizer, lambda t: max(0.0, 1.0 - t / iters))
