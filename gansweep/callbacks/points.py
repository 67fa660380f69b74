"""Each point's own callbacks (evaluation, samples, checkpoint, a user's) run against its views: its RunView
(gansweep.model.view.PointView) and its PointTrainer (its loggers, data, callbacks and checkpoint file). A model of
one point and a fused group of K are wired the same way, so a point leaves the same files either way.

A point's hooks run while it trains; when its run ends inside the fit (diverged, stopped by its own callbacks) it
gets that iteration's hooks and then on_train_end, as its run alone would; when its callbacks raise, it is recorded
failed and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pytorch_lightning as pl
import torch

from gansweep.model.health import DIVERGED, FAILED, TRAINING
from gansweep.model.point_state import point_training_state
from gansweep.model.view import PointView


@dataclass
class PointRun:
    """Point k's share of a fit: its view, loggers, data module and callbacks."""

    view: PointView
    loggers: Sequence[Any]
    datamodule: Any
    callbacks: List[pl.Callback]
    trainer: Optional["PointTrainer"] = field(default=None, repr=False)
    ended: bool = False  # on_train_end has run (or the point failed): only on_fit_end and teardown are left
    raised: bool = False  # its callbacks raised: nothing of theirs runs again
    stop: bool = False  # its callbacks set trainer.should_stop: its run ends after this iteration

    @property
    def status(self) -> str:
        return self.view.module.health.points[self.view.k].status

    def call(self, hook: str, *args: Any) -> None:
        """The hook of every callback of this point; an exception fails this point (only)."""
        if self.raised:
            return
        try:
            for callback in self.callbacks:
                getattr(callback, hook)(self.trainer, self.view, *args)
        except Exception as err:
            self.raised = self.ended = True
            self.view.module.fail_point(self.view.k, err)

    def end(self) -> None:
        """Its run is over: on_train_end, as its run alone ends (the module records it finished if still training;
        a failed point gets no more hooks)."""
        if self.ended:
            return
        self.ended = True
        if self.status in (TRAINING, DIVERGED):
            self.call("on_train_end")
        if self.status == TRAINING:
            self.view.module.finish_point(self.view.k)


class PointTrainer:
    """What a point's callbacks read of the trainer: its own loggers, data module, callbacks and checkpoint, the
    trainer's counters, and `group`, the fit's Lightning Trainer, for anything else."""

    def __init__(self, trainer: pl.Trainer, run: PointRun) -> None:
        self.group, self.run = trainer, run

    @property
    def loggers(self) -> List[Any]:
        return list(self.run.loggers)

    @property
    def logger(self) -> Any:
        return self.run.loggers[0] if self.run.loggers else None

    @property
    def datamodule(self) -> Any:
        return self.run.datamodule

    @property
    def callbacks(self) -> List[pl.Callback]:
        return list(self.run.callbacks)

    @property
    def global_step(self) -> int:
        return self.group.global_step

    @property
    def current_epoch(self) -> int:
        return self.group.current_epoch

    @property
    def is_global_zero(self) -> bool:
        return self.group.is_global_zero

    @property
    def should_stop(self) -> bool:
        return self.run.stop or self.group.should_stop

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        """True ends this point's run after the current iteration (the others go on)."""
        self.run.stop = self.run.stop or bool(value)

    def save_checkpoint(self, path: Any) -> None:
        """Point k's checkpoint as its unfused run writes it: its networks, its optimizer and scheduler states, its
        callbacks' states, and whatever its callbacks' on_save_checkpoint adds (gansweep's part)."""
        view, group = self.run.view, self.group
        schedulers = [config.scheduler for config in group.lr_scheduler_configs]
        checkpoint = {
            "epoch": group.current_epoch,
            "global_step": group.global_step,
            "pytorch-lightning_version": pl.__version__,
            "state_dict": view.state_dict(),
            **point_training_state(group.optimizers, schedulers, view.k, view.module.n_points),
            "callbacks": {cb.state_key: cb.state_dict() for cb in self.run.callbacks if cb.state_dict()},
        }
        for callback in self.run.callbacks:
            callback.on_save_checkpoint(self, view, checkpoint)  # type: ignore[arg-type]
        torch.save(checkpoint, Path(path))


class PointCallbacks(pl.Callback):
    """Every hook of the fit, handed to each training point's callbacks with that point's views."""

    def __init__(self, runs: Sequence[PointRun]) -> None:
        self.runs = list(runs)

    def _open(self) -> List[PointRun]:
        """The points still in the fit's hooks: training, or diverged at this iteration's read."""
        return [run for run in self.runs if not run.ended and run.status in (TRAINING, DIVERGED)]

    def _forward(self, hook: str, *args: Any) -> None:
        for run in self._open():
            run.call(hook, *args)

    def setup(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        for run in self.runs:
            run.trainer = PointTrainer(trainer, run)
            run.call("setup", stage)

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, batch: Any, batch_idx: int) -> None:
        for run in self._open():
            run.call("on_train_batch_start", batch[:, run.view.k], batch_idx)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        """The iteration's hooks for each point that trained in it (one diverged at this read included); then a
        point whose run ended here gets on_train_end."""
        for run in self._open():
            run.call("on_train_batch_end", outputs, batch[:, run.view.k], batch_idx)
        for run in self.runs:
            if not run.ended and (run.status != TRAINING or run.stop):
                run.end()

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        for run in self._open():
            run.end()

    def on_fit_end(self, trainer: pl.Trainer, module: Any) -> None:
        for run in self.runs:
            if run.status != FAILED:
                run.call("on_fit_end")

    def teardown(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        for run in self.runs:
            run.call("teardown", stage)


def _forwarding(hook: str) -> Any:
    def forward(self: PointCallbacks, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        self._forward(hook, *args)

    forward.__name__ = hook
    return forward


# every other hook a callback may implement reaches each training point's (the fit never saves or loads a Lightning
# checkpoint of its own: each point's checkpoint is written through its PointTrainer)
for _hook in [name for name in vars(pl.Callback) if name.startswith("on_")]:
    if _hook not in vars(PointCallbacks) and _hook not in ("on_save_checkpoint", "on_load_checkpoint"):
        setattr(PointCallbacks, _hook, _forwarding(_hook))
