"""Each point's own callbacks (evaluation, samples, checkpoint, a user's) run against its views: its RunView
(gansweep.model.view.PointView) and its PointTrainer (its loggers, data, callbacks and checkpoint file). A model of
one point and a fused group of K are wired the same way, so a point leaves the same files either way.

A point gets the hooks its run alone gets. While it trains, every hook of the fit. When its run ends and the fit
ends with it (the last point, or a single run), Lightning's own end hooks reach it (on_train_epoch_end,
on_train_end). When its run ends while others go on (it diverged at a read, or its callbacks asked to stop), it
gets that iteration's hooks and then on_train_end at once. When its callbacks raise, or its own values make a step
raise, it gets on_exception with its error and is recorded failed; the others go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.model_helpers import is_overridden

from gansweep.model.health import FAILED, TRAINING
from gansweep.model.point_state import point_training_state
from gansweep.model.view import PointView

log = logging.getLogger("gansweep")


@dataclass
class PointRun:
    """Point k's share of a fit: its view, loggers, data module and callbacks."""

    view: PointView
    loggers: Sequence[Any]
    datamodule: Any
    callbacks: List[pl.Callback]
    trainer: Optional["PointTrainer"] = field(default=None, repr=False)
    ended: bool = False  # its run is over: only on_fit_end and teardown are left
    raised: bool = False  # its callbacks raised: nothing of theirs runs again
    stop: bool = False  # its callbacks set trainer.should_stop: its run ends at the end of this iteration
    closed: bool = False  # its slot took another point (gansweep.callbacks.refill): no hook of the fit reaches it

    @property
    def status(self) -> str:
        return self.view.module.health.points[self.view.k].status

    @property
    def open(self) -> bool:
        """Its hooks still run: it completed the current iteration (training, or diverged at this iteration's read)."""
        return not self.ended and self.view.k in self.view.module.completed()

    def call(self, hook: str, *args: Any) -> None:
        """The hook of every callback of this point; an exception fails this point (only), whose callbacks get
        on_exception with it, as a fit alone calls it."""
        if self.raised or self.closed:
            return
        try:
            for callback in self.callbacks:
                getattr(callback, hook)(self.trainer, self.view, *args)
        except Exception as err:
            self.raised = self.ended = True
            self.view.module.fail_point(self.view.k, err)
            self.exception(err)

    def exception(self, err: BaseException) -> None:
        for callback in self.callbacks:
            try:
                callback.on_exception(self.trainer, self.view, err)  # type: ignore[arg-type]
            except Exception as again:  # the point is failed already: its record keeps the first error
                log.warning("%s.on_exception raised %s: %s", type(callback).__name__, type(again).__name__, again)

    def end(self) -> None:
        """Its run is over: on_train_end when it completed the iteration (recorded finished if it still trained), its
        error's on_exception when a step it could not complete failed it."""
        if self.ended:
            return
        if self.open:
            self.call("on_train_end")
            if self.status == TRAINING:
                self.view.module.finish_point(self.view.k)
        elif self.status == FAILED and not self.raised:
            error = self.view.module.health.points[self.view.k].exception
            if error is not None:
                self.exception(error)
        self.ended = True


class PointTrainer:
    """What a point's callbacks read of the trainer: its own loggers, data module, callbacks and checkpoint, whether
    its run stops, and the fit's counters and settings (GROUP_ATTRIBUTES, the same for every point of a group);
    `group` is the fit's Lightning Trainer, for anything else."""

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
    def should_stop(self) -> bool:
        return self.run.stop or self.group.should_stop

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        """True ends this point's run at the end of the current iteration (set at on_train_start: before its first),
        as Lightning's should_stop ends a fit; the others go on."""
        self.run.stop = self.run.stop or bool(value)

    def save_checkpoint(self, path: Any) -> None:
        """Point k's checkpoint as its unfused run writes it: its networks, its optimizer and scheduler states, its
        callbacks' states, Lightning's loop counters, and whatever its callbacks' on_save_checkpoint adds
        (gansweep's part)."""
        view, group = self.run.view, self.group
        schedulers = [config.scheduler for config in group.lr_scheduler_configs]
        checkpoint = {
            "epoch": group.current_epoch,
            "global_step": group.global_step,
            "pytorch-lightning_version": pl.__version__,
            "state_dict": view.state_dict(),
            "loops": _loops_state(group),
            **point_training_state(group.optimizers, schedulers, view.k, view.module.n_points),
            "callbacks": {cb.state_key: cb.state_dict() for cb in self.run.callbacks if cb.state_dict()},
        }
        for callback in self.run.callbacks:
            callback.on_save_checkpoint(self, view, checkpoint)  # type: ignore[arg-type]
        torch.save(checkpoint, Path(path))


def _loops_state(trainer: pl.Trainer) -> Any:
    """Lightning's loop counters, as its own checkpoint of a fit holds them (no resume reads them: a resumed fit runs
    the remaining generator iterations as a fresh epoch, gansweep.callbacks.restore)."""
    connector = getattr(trainer, "_checkpoint_connector", None)
    return connector._get_loops_state_dict() if connector is not None else {}


# Read-only Trainer attributes a callback may use that are the same for every point of a group (the optimizers and
# schedulers hold every point's parameter groups; a single run's are its own).
GROUP_ATTRIBUTES = (
    "current_epoch",
    "global_step",
    "max_epochs",
    "max_steps",
    "min_epochs",
    "min_steps",
    "num_training_batches",
    "estimated_stepping_batches",
    "is_global_zero",
    "global_rank",
    "local_rank",
    "node_rank",
    "world_size",
    "num_devices",
    "num_nodes",
    "strategy",
    "accelerator",
    "precision",
    "precision_plugin",
    "state",
    "training",
    "sanity_checking",
    "fast_dev_run",
    "default_root_dir",
    "log_dir",
    "optimizers",
    "lr_scheduler_configs",
    "lightning_module",
    "received_sigterm",
)


def _group_attribute(name: str) -> property:
    def read(self: PointTrainer) -> Any:
        return getattr(self.group, name)

    return property(read, doc=f"The fit's Trainer.{name}.")


for _name in GROUP_ATTRIBUTES:
    setattr(PointTrainer, _name, _group_attribute(_name))


class PointCallbacks(pl.Callback):
    """Every hook of the fit, handed to each training point's callbacks with that point's views."""

    def __init__(self, runs: Sequence[PointRun], open_ended: bool = False) -> None:
        """open_ended: the fit's data never ends (a refilled group's, gansweep.callbacks.refill): each run ends at its
        own last iteration, the fit when none trains."""
        self.runs = list(runs)
        self.open_ended = open_ended

    def stops(self, run: PointRun) -> bool:
        """Its run ends at the end of this iteration: its callbacks asked, or (open-ended) its budget is spent."""
        if run.stop:
            return True
        return self.open_ended and run.status == TRAINING and run.view.g_iters >= run.view.last_iteration

    def listens(self, hook: str) -> bool:
        """Whether a point's callbacks implement `hook` (steps skip hooks nobody listens to, gansweep.model.lean)."""
        callbacks = (callback for run in self.runs if not run.closed for callback in run.callbacks)
        return any(is_overridden(hook, callback, parent=pl.Callback) for callback in callbacks)

    def _open(self) -> List[PointRun]:
        """The runs whose hooks still run (PointRun.open), the module's completed points read once per hook."""
        completed = set(self.runs[0].view.module.completed()) if self.runs else set()
        return [run for run in self.runs if not run.ended and run.view.k in completed]

    def _forward(self, hook: str, *args: Any) -> None:
        for run in self._open():
            run.call(hook, *args)

    def _end_runs(self, trainer: pl.Trainer) -> None:
        """Runs over at this iteration end now while others go on; when none goes on, the fit stops, and Lightning's
        own end hooks end them (as a fit alone ends). A point a step failed ends at once."""
        going_on = any(run.status == TRAINING and not self.stops(run) and not run.ended for run in self.runs)
        for run in self.runs:
            if run.ended:
                continue
            if run.status == FAILED or going_on and (run.status != TRAINING or self.stops(run)):
                run.end()
            elif self.stops(run):
                trainer.should_stop = True

    def setup(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        for run in self.runs:
            run.trainer = PointTrainer(trainer, run)
            run.call("setup", stage)

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        self._forward("on_train_start")
        self._end_runs(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, batch: Any, batch_idx: int) -> None:
        for run in self._open():
            run.call("on_train_batch_start", batch[:, run.view.k], batch_idx)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        for run in self._open():
            run.call("on_train_batch_end", outputs, batch[:, run.view.k], batch_idx)
        self._end_runs(trainer)

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        for run in self.runs:
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
