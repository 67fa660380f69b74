"""A point that is a trial of an adaptive sweep (search.trial set by hydra/sweeper=adaptive): each evaluation's value
of the study's metric is reported to the study at its generator iteration, and when the study's pruner says stop,
the point is pruned there: it leaves training (a fused group goes on without it), keeps its checkpoint and is
recorded `pruned`. The sweep, not the point, tells the study how the trial ended."""

from __future__ import annotations

import logging
import math
from typing import Any, Optional

import pytorch_lightning as pl

from gansweep.callbacks.evaluation import Evaluation

log = logging.getLogger("gansweep")


class TrialReport(pl.Callback):
    """Placed after the point's evaluation, so that it reads the values that evaluation has just computed."""

    def __init__(self, storage: str, study: str, trial: int, metric: str) -> None:
        self.storage, self.study_name, self.number, self.metric = storage, study, int(trial), metric
        self.reported: Optional[int] = None  # the last generator iteration reported
        self._trial: Any = None

    def trial(self) -> Any:
        """The study's trial with the study's pruner, opened on first use (in the point's own process)."""
        if self._trial is None:
            from gansweep.studies import load_trial

            self._trial = load_trial(self.storage, self.study_name, self.number)
        return self._trial

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        value = self._new_value(trainer, module)
        if value is None:
            return
        trial = self.trial()
        trial.report(value, step=int(module.g_iters))
        if module.g_iters < module.last_iteration and trial.should_prune():
            log.info(
                "trial %d pruned at generator iteration %d (%s %s)", self.number, module.g_iters, self.metric, value
            )
            module.prune()

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        value = self._new_value(trainer, module)
        if value is not None:
            self.trial().report(value, step=int(module.g_iters))

    def _new_value(self, trainer: pl.Trainer, module: Any) -> Optional[float]:
        """The metric of an evaluation at this generator iteration not reported yet (a non-finite value is not
        reported: the trial ends diverged or failed, and the sweep tells the study so)."""
        if self.reported == module.g_iters:
            return None
        for callback in getattr(trainer, "callbacks", ()):  # the point's own (gansweep.callbacks.points.PointTrainer)
            if isinstance(callback, Evaluation) and callback.protocol.get("g_iters") == module.g_iters:
                value = callback.metrics.get(self.metric)
                if value is None:
                    raise KeyError(
                        f"search.metric={self.metric!r} is not among this point's metrics "
                        f"({', '.join(callback.metrics)}): name one of them (hydra.sweeper.metric)"
                    )
                self.reported = int(module.g_iters)
                return float(value) if math.isfinite(value) else None
        return None
