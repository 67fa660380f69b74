"""Puts the points' checkpoints back before their first resumed generator iteration."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import pytorch_lightning as pl

from gansweep import rng
from gansweep.callbacks.points import PointRun
from gansweep.model.point_state import force_foreach, load_training_states
from gansweep.record import STATE_KEY, checkpoint_iteration


class Restore(pl.Callback):
    """The first callback of a resumed fit, over each point's own checkpoint (all at one generator iteration). At
    on_train_start (optimizers and schedulers exist, nothing has drawn a random number since, the first batch is not
    transferred yet) it restores each point's networks, EMA and callback states (its latest evaluation), the group's
    optimizers and schedulers from the points' states, g_iters and every global RNG state (the first point's: a
    group's points were checkpointed together). Lightning's own `ckpt_path` restore is not used: it would also
    restore its loop counters, which count optimizer steps, while the resumed fit runs the remaining generator
    iterations as a fresh epoch."""

    def __init__(self, checkpoints: Sequence[Dict[str, Any]], runs: Sequence[PointRun]) -> None:
        """One checkpoint per run, all at one generator iteration (gansweep.run.fit makes sure)."""
        self.checkpoints: Optional[List[Dict[str, Any]]] = list(checkpoints)
        self.runs = list(runs)

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        checkpoints = self.checkpoints
        assert checkpoints is not None, "a fit is restored once"
        for run, checkpoint in zip(self.runs, checkpoints, strict=True):
            run.view.load_state_dict(checkpoint["state_dict"])
            saved = checkpoint.get("callbacks", {})
            for callback in run.callbacks:
                if callback.state_key in saved:
                    callback.load_state_dict(saved[callback.state_key])
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        load_training_states(trainer.optimizers, schedulers, checkpoints)
        if len(checkpoints) > 1:
            force_foreach(trainer.optimizers)  # the saved groups say `foreach` unset, as alone
        module.g_iters = checkpoint_iteration(checkpoints[0])
        rng.restore(checkpoints[0][STATE_KEY]["rng"])
        self.checkpoints = None  # the weights are in the networks now; free the copies
