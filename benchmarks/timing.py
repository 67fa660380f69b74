"""What the benchmarks share: gansweep's side timed as a user runs it (a bare Lightning fit), and a dataset
already in memory, so that they measure training and evaluation, not file reading."""

from __future__ import annotations

import time
from typing import Any, Sequence, Tuple

import pytorch_lightning as pl
from torch import Tensor

from gansweep.data.images import ImageDataModule


class InMemory(ImageDataModule):
    """uint8 images [N, C, H, W] already in memory, standing in for a dataset's files."""

    name = "in_memory"

    def __init__(self, images: Tensor, **kwargs: Any) -> None:
        self._source = images
        super().__init__(**kwargs)

    @property
    def data_shape(self) -> Tuple[int, int, int]:
        return tuple(self._source.shape[1:])  # type: ignore[return-value]

    def check(self) -> None:
        pass

    def read(self) -> Tensor:
        return self._source


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
