"""The group's two callbacks: each point's own callbacks run against its views (PointCallbacks), and a group resumes
from its points' own checkpoints (RestoreGroup)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytorch_lightning as pl

from gansweep.callbacks.checkpoint import STATE_KEY
from gansweep.fusion.views import PointModule, PointTrainer, load_point_states, merge_scheduler_states


@dataclass
class PointRun:
    """Point k's share of a group's fit: its view, loggers, data module and callbacks (the unfused run's)."""

    module: PointModule
    loggers: Sequence[Any]
    datamodule: Any
    callbacks: List[pl.Callback]
    trainer: Optional[PointTrainer] = field(default=None, repr=False)
    error: Optional[Tuple[Exception, str]] = None  # what its callbacks raised, with the traceback

    def call(self, hook: str, *args: Any) -> None:
        """The hook of every callback of this point; an exception takes this point (only) out of the group's run."""
        if self.error is not None:
            return
        try:
            for callback in self.callbacks:
                getattr(callback, hook)(self.trainer, self.module, *args)
        except Exception as err:
            self.error = (err, traceback.format_exc())
            self.module.ended, self.module.ended_at = True, self.module.g_iters
            self.module.group.drop_point(self.module.k)


class PointCallbacks(pl.Callback):
    """Every hook of the group's fit, handed to each point's callbacks with that point's views, while the point is
    training. A point whose divergence is read at an iteration gets that iteration's hooks, then on_train_end, as
    its unfused run stops there; the others go on. A point whose callbacks raise is recorded failed; the others
    go on."""

    def __init__(self, points: Sequence[PointRun]) -> None:
        self.points = list(points)

    def _active(self) -> List[PointRun]:
        return [point for point in self.points if not point.module.ended]

    def _forward(self, hook: str, *args: Any) -> None:
        for point in self._active():
            point.call(hook, *args)

    def setup(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        for point in self.points:
            point.trainer = PointTrainer(trainer, point.module, point.loggers, point.datamodule, point.callbacks)
            point.call("setup", stage)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        for point in self._active():
            point.call("on_train_batch_end", outputs, batch, batch_idx)
            if not point.module.ended and point.module.diverged_at is not None:  # read now: its run ends here
                point.call("on_train_end")
                point.module.ended, point.module.ended_at = True, module.g_iters

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        for point in self._active():
            point.call("on_train_end")
            point.module.ended = True

    def teardown(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        for point in self.points:
            point.call("teardown", stage)


def _forwarding(hook: str) -> Any:
    def forward(self: PointCallbacks, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        self._forward(hook, *args)

    forward.__name__ = hook
    return forward


# every other hook a user's callback may implement reaches each training point's (the group never saves or loads
# a Lightning checkpoint of its own: each point's checkpoint is written through its PointTrainer)
for _hook in [name for name in vars(pl.Callback) if name.startswith("on_")]:
    if _hook not in vars(PointCallbacks) and _hook not in ("on_save_checkpoint", "on_load_checkpoint"):
        setattr(PointCallbacks, _hook, _forwarding(_hook))


class RestoreGroup(pl.Callback):
    """The first callback of a resumed group: every point's networks, optimizer and scheduler states and callback
    states from its own checkpoint (all at one generator iteration), at on_train_start as RestoreTraining does."""

    def __init__(self, checkpoints: Sequence[Dict[str, Any]], points: Sequence[PointRun]) -> None:
        starts = {checkpoint[STATE_KEY]["g_iters"] for checkpoint in checkpoints}
        if len(starts) != 1:
            raise ValueError(f"a fused group resumes from one generator iteration, got {sorted(starts)}")
        self.checkpoints: Optional[List[Dict[str, Any]]] = list(checkpoints)
        self.points = list(points)

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        checkpoints = self.checkpoints
        assert checkpoints is not None, "a group is restored once"
        for point, checkpoint in zip(self.points, checkpoints, strict=True):
            point.module.load_state_dict(checkpoint["state_dict"])
            saved = checkpoint.get("callbacks", {})
            for callback in point.callbacks:
                if callback.state_key in saved:
                    callback.load_state_dict(saved[callback.state_key])
        load_point_states(trainer.optimizers, [checkpoint["optimizer_states"] for checkpoint in checkpoints])
        module.multi_tensor(*trainer.optimizers)  # the saved groups say `foreach` unset, as alone
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        for i, scheduler in enumerate(schedulers):
            scheduler.load_state_dict(merge_scheduler_states([c["lr_schedulers"][i] for c in checkpoints]))
        module.g_iters = checkpoints[0][STATE_KEY]["g_iters"]
        self.checkpoints = None
