"""The run's checkpoint, `checkpoints/last.ckpt`: every `every` generator iterations, when a stop signal interrupts
the run, and at the end of a run that did not diverge. One file, always the latest state, always whole: it is
written to a temporary file, flushed to disk and renamed over the old one, so a reader (or a resumed run) sees
either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from gansweep import rng
from gansweep.callbacks.stop import Interrupted
from gansweep.model.view import RunView
from gansweep.record import CHECKPOINT, STATE_KEY, config_hash

CHECKPOINT_FILE = CHECKPOINT.name


class RunCheckpoint(pl.Callback):
    """Lightning's checkpoint (networks, EMA, optimizers, schedulers, callback states) plus, under "gansweep", the
    generator-iteration count, every global RNG state, the run's overrides and its config identity (`config`, set by
    the run path: a resumed run checks it is the same grid point on the same config). A diverged run's NaN weights
    are never saved: the last healthy checkpoint stays."""

    def __init__(
        self, dirpath: str, every: Optional[int] = None, overrides: Sequence[str] = (), filename: str = CHECKPOINT_FILE
    ) -> None:
        """every: generator iterations between checkpoints (train.checkpoint_every); None: at the end only."""
        if every is not None and every < 1:
            raise ValueError(f"train.checkpoint_every is in generator iterations, >= 1 or null; got {every}")
        self.path = Path(dirpath) / filename
        self.every = every
        self.overrides: List[str] = list(overrides)
        self.saved_at: Optional[int] = None
        self.config: Dict[str, Any] = {}  # gansweep.record.identity of the point's config

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        self.saved_at = module.g_iters  # the state training starts from is on disk already (or is the initial one)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if self.every and module.g_iters % self.every == 0 and module.g_iters < module.last_iteration:
            self.save(trainer, module)  # the last iteration's checkpoint is the final one, after the evaluation

    def on_exception(self, trainer: pl.Trainer, module: Any, exception: BaseException) -> None:
        # both are raised between generator iterations, after every callback finished the iteration
        if isinstance(exception, (Interrupted, SIGTERMException)):
            self.save(trainer, module)

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        self.save(trainer, module)

    def on_save_checkpoint(self, trainer: pl.Trainer, module: Any, checkpoint: Dict[str, Any]) -> None:
        checkpoint[STATE_KEY] = {"g_iters": module.g_iters, "rng": rng.capture(), "overrides": self.overrides}
        if self.config:
            checkpoint[STATE_KEY].update(config=self.config, config_hash=config_hash(self.config))

    def save(self, trainer: pl.Trainer, module: RunView) -> None:
        """Write the checkpoint of the current generator iteration, unless it is saved already or diverged."""
        if self.saved_at == module.g_iters or module.check_divergence():
            return
        for logger in trainer.loggers:  # the curves up to this iteration reach the disk with it
            logger.save()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            trainer.save_checkpoint(tmp)
            with open(tmp, "rb+") as fh:  # on disk before the rename, so a crash cannot leave a renamed empty file
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:  # a full disk leaves no half-written file behind (the previous checkpoint stays)
            tmp.unlink(missing_ok=True)
        self.saved_at = module.g_iters
