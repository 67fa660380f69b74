"""Puts a run's checkpoint back before its first resumed generator iteration."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytorch_lightning as pl

from gansweep import rng
from gansweep.callbacks.checkpoint import STATE_KEY


class RestoreTraining(pl.Callback):
    """The first callback of a resumed run. At on_train_start (optimizers and schedulers exist, nothing has drawn a
    random number since, the first batch is not transferred yet) it restores networks, EMA, optimizers, schedulers,
    callback states (the latest evaluation), g_iters and every global RNG state. Lightning's own `ckpt_path`
    restore is not used: it would also restore its loop counters, which count optimizer steps and a different
    epoch length, while the resumed fit runs the remaining generator iterations as a fresh epoch."""

    def __init__(self, checkpoint: Dict[str, Any]) -> None:
        self.checkpoint: Optional[Dict[str, Any]] = checkpoint

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        checkpoint = self.checkpoint
        assert checkpoint is not None, "a run is restored once"
        module.load_state_dict(checkpoint["state_dict"])
        for optimizer, state in zip(trainer.optimizers, checkpoint["optimizer_states"], strict=True):
            optimizer.load_state_dict(state)
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        for scheduler, state in zip(schedulers, checkpoint.get("lr_schedulers", []), strict=True):
            scheduler.load_state_dict(state)
        saved = checkpoint.get("callbacks", {})
        for callback in trainer.callbacks:  # type: ignore[attr-defined]
            if callback.state_key in saved:
                callback.load_state_dict(saved[callback.state_key])
        module.g_iters = checkpoint[STATE_KEY]["g_iters"]
        rng.restore(checkpoint[STATE_KEY]["rng"])
        self.checkpoint = None  # the weights are in the networks now; free the copy
