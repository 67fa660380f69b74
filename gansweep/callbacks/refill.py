"""A fused group's freed slots taking new points at rung boundaries (an adaptive sweep's refill): placed after
PointCallbacks, so that this iteration's evaluations, reports and prunings are done. At a generator iteration that is
a multiple of the source's `every`, each slot whose run is over (pruned, diverged, failed, or its budget spent) is
closed (its last hooks, loggers finalized; its record and trial by the source) and, while the source has trials,
takes the next one: GANModule.refill puts the new point's initial state in the slot, its data replaces the slot's,
and its callbacks get the hooks a fit starts with. The other slots go on untouched."""

from __future__ import annotations

from typing import Any, Optional, Protocol, Tuple

import pytorch_lightning as pl

from gansweep.callbacks.points import PointCallbacks, PointRun, PointTrainer
from gansweep.model.health import FAILED, TRAINING
from gansweep.model.view import PointView
from gansweep.signals import stop_requested

START_HOOKS = ("on_fit_start", "on_train_start", "on_train_epoch_start")  # after setup: what a fit's start calls


class RefillSource(Protocol):
    """Where a group's freed slots find new points (gansweep.search.refill.GroupRefill)."""

    every: int  # rung boundaries: slots are refilled at multiples of it (the group's generator iterations)

    def ended(self, k: int, run: PointRun) -> None:
        """Slot k's point is over (its hooks have run): its record, loggers and trial are settled."""

    def failed(self, k: int, error: BaseException) -> None:
        """The point `next` gave slot k could not take it (`error`): it is recorded failed, untrained."""

    def next(self, k: int, at: int) -> Optional[Any]:
        """A new point for slot k (gansweep.run.fit.FitPoint, not trained) from the group's generator iteration
        `at` on, or None: no more."""


class Refill(pl.Callback):
    def __init__(self, source: RefillSource, points: PointCallbacks, data: Any, layout: Tuple[int, int, int]) -> None:
        """`data`: the fit's StackedData (open-ended); `layout`: a new point's (batch size, batches per generator
        iteration, generator iterations)."""
        self.source, self.points, self.data, self.layout = source, points, data, layout
        self.done = False  # the source had no more: freed slots stay free

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.done or stop_requested() or module.g_iters % self.source.every:
            return
        refilled = False
        for k, run in enumerate(list(self.points.runs)):
            if run.status == TRAINING and not self.points.stops(run):
                continue
            if not run.closed:  # closed already: the point a boundary gave it could not start
                close(run)
                self.source.ended(k, run)
            if self.done:  # every run over at this boundary is closed, whether or not a new point takes its slot
                continue
            new = self.source.next(k, module.g_iters)
            if new is None:
                self.done = True
                continue
            try:  # the new point's data first: nothing of the slot's model is touched if it cannot start
                self.data.replace(k, new.datamodule, *self.layout)
                module.refill(k, new.point, new.loggers)
            except Exception as err:  # this point only: it fails without training, the slot stays free
                self.source.failed(k, err)
                continue
            fresh = PointRun(PointView(module, k), new.loggers, new.datamodule, new.callbacks)
            fresh.trainer = PointTrainer(trainer, fresh)
            self.points.runs[k] = fresh
            fresh.call("setup", "fit")
            for hook in START_HOOKS:
                fresh.call(hook)
            refilled = True
        if refilled and module.health.any_training():
            trainer.should_stop = False  # set when the last run ended this iteration; a stop signal sets it again


def close(run: PointRun) -> None:
    """A run that is over, as a fit's end closes it: on_train_end if it had not ended, on_fit_end (unless it failed),
    teardown, and its loggers finalized."""
    run.end()
    if run.status != FAILED:
        run.call("on_fit_end")
    run.call("teardown", "fit")
    for logger in run.loggers:
        logger.finalize("failed" if run.status == FAILED else "success")
    run.closed = True
