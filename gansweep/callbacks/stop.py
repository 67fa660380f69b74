"""Stops training between generator iterations once a stop signal arrived (gansweep.signals)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from gansweep.signals import reclaim, stop_requested


class Interrupted(Exception):
    """Raised at the end of a generator iteration after a stop signal: the run is recorded as interrupted."""

    def __init__(self, g_iters: int) -> None:
        super().__init__(f"stopped by a signal after generator iteration {g_iters}")
        self.g_iters = g_iters


class StopOnSignal(pl.Callback):
    """The last callback of every run: after the others have finished an iteration (evaluation, samples, periodic
    checkpoint), a pending stop request raises Interrupted; the checkpoint callback saves on that exception.

    Raising rather than setting `trainer.should_stop`: should_stop ends the loop through on_train_end, i.e. the
    final evaluation, figure and checkpoint of a finished run, which an interrupted run must not claim (and an
    evaluation may outlast SLURM's grace period). The last iteration is never interrupted: training is over, the
    run finishes. Lightning's SIGTERM handler, installed when the fit starts, is set aside for the fit (it would
    raise SIGTERMException at the end of an epoch, i.e. after the last iteration too); should it get a SIGTERM
    anyway, its exception is handled like Interrupted."""

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        if stop_requested():  # the signal came while the data and networks were being built
            raise Interrupted(module.g_iters)
        reclaim()

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if stop_requested() and module.g_iters < module.last_iteration:
            raise Interrupted(module.g_iters)
