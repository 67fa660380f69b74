"""The run's checkpoint: `checkpoints/last.ckpt` at the end of a run that did not diverge, written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class FinalCheckpoint(pl.Callback):
    """Saves the whole training state (networks, optimizers, EMA) once training ends; a diverged run's NaN
    weights are not worth a file."""

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        if module.diverged_at is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)  # a reader never sees half a checkpoint
