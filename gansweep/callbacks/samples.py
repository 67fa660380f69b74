"""Sample figures: `samples.png` at the end and `samples/iter_NNNNNN.png` every `every` generator iterations.

Images: an 8x8 grid from one fixed noise batch (the same z at every interval, so the figures show training
progress). 2-D data: generated points over the true modes and a data sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch

from gansweep.callbacks.evaluation import datamodule_of
from gansweep.model.view import RunView
from gansweep.plots import save_image_grid, scatter_samples


class Samples(pl.Callback):
    """Draws from the EMA generator when one is kept (module.generate); a diverged run still gets its figure."""

    def __init__(self, dirpath: str, every: Optional[int] = None, grid: int = 8, points: int = 2500, seed: int = 0):
        """grid: images per side of the grid; points: generated points of a 2-D scatter plot."""
        if every is not None and every < 1:
            raise ValueError(f"train.sample_every is in generator iterations, >= 1 or null; got {every}")
        if grid < 1 or points < 1:
            raise ValueError(f"callbacks.samples.grid and .points must be >= 1, got {grid} and {points}")
        self.dirpath, self.every, self.grid, self.points, self.seed = Path(dirpath), every, grid, points, seed
        self.z: Optional[torch.Tensor] = None

    def on_fit_start(self, trainer: pl.Trainer, module: Any) -> None:
        n = self.points if self._is_2d(trainer) else self.grid * self.grid
        self.z = torch.randn(n, module.z_dim, generator=torch.Generator().manual_seed(self.seed))

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if self.every and module.g_iters % self.every == 0:
            self.publish(
                trainer, module, self.draw(trainer, module, self.dirpath / "samples" / f"iter_{module.g_iters:06d}.png")
            )

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        self.publish(trainer, module, self.draw(trainer, module, self.dirpath / "samples.png"))

    @staticmethod
    def publish(trainer: pl.Trainer, module: RunView, path: Path) -> None:
        """The figure to every logger that shows images (W&B), as `samples` at the current generator iteration."""
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image("samples", [str(path)], step=int(module.g_iters))

    def draw(self, trainer: pl.Trainer, module: RunView, path: Path) -> Path:
        assert self.z is not None, "on_fit_start draws the fixed noise"
        path.parent.mkdir(parents=True, exist_ok=True)
        samples = module.generate(self.z).float().cpu()
        if not self._is_2d(trainer):
            return save_image_grid(path, samples, nrow=self.grid)
        data = datamodule_of(trainer)
        constraints = " + ".join(type(c).__name__ for c in module.constraints) or "no constraint"
        title = f"{type(module.loss).__name__} + {constraints} on {data.name}, {module.g_iters} G iters"
        return scatter_samples(path, samples, data.modes, data.reference(len(samples)), title)

    @staticmethod
    def _is_2d(trainer: pl.Trainer) -> bool:
        return tuple(datamodule_of(trainer).data_shape) == (2,)
