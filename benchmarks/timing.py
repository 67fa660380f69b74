"""What both step benchmarks share: gansweep's side timed as a user runs it, a bare Lightning fit."""

from __future__ import annotations

import time
from typing import Any, Sequence

import pytorch_lightning as pl


def timed_fit(module: Any, datamodule: Any, iters: int, device: str, callbacks: Sequence[Any] = ()) -> float:
    """Generator iterations per second of one fit (trainer start included), with nothing but the training."""
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        accelerator=device,
        devices=1,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    return iters / (time.perf_counter() - start)
