"""A terminal progress bar for a single run, counting generator iterations (Lightning's own bar counts batches)."""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

import pytorch_lightning as pl

SHOWN = ("train/critic", "train/generator")  # beside the count, at each log interval


def wanted(multirun: bool, stream: Optional[TextIO] = None) -> bool:
    """Only a single run on a terminal: a sweep's points write their output to files, one line per point."""
    stream = sys.stderr if stream is None else stream
    return not multirun and stream.isatty()


class IterationProgress(pl.Callback):
    """tqdm over `total` generator iterations, starting at the resumed count, with the latest losses."""

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.total, self.stream = total, stream
        self.bar: Any = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.total,
            initial=pl_module.g_iters,
            desc="generator iterations",
            unit="it",
            dynamic_ncols=True,
            file=self.stream if self.stream is not None else sys.stderr,
        )

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        if self.bar is None:
            return
        curves = pl_module.latest_curves
        if curves and pl_module.g_iters % pl_module.log_every == 0:
            self.bar.set_postfix({k.split("/")[-1]: f"{curves[k]:.4g}" for k in SHOWN if k in curves}, refresh=False)
        self.bar.update(pl_module.g_iters - self.bar.n)

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._close()

    def on_exception(self, trainer: pl.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
