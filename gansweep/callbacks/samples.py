"""Sample figures at the end of a run: for 2-D data, generated points over the true modes (samples.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from gansweep.callbacks.evaluation import datamodule_of
from gansweep.plots import scatter_samples


class ToyScatter(pl.Callback):
    """Writes `dirpath`/samples.png: `num_samples` generated points, a data sample and the modes."""

    def __init__(self, dirpath: str, num_samples: int = 2500) -> None:
        self.path = Path(dirpath) / "samples.png"
        self.num_samples = num_samples

    def on_fit_start(self, trainer: pl.Trainer, module: Any) -> None:
        shape = tuple(datamodule_of(trainer).data_shape)
        if shape != (2,):  # before training, so that no work is lost to a wrong choice
            raise ValueError(
                f"callbacks.samples (ToyScatter) plots 2-D points, but the data is {shape}: remove it "
                "with ~callbacks.samples or choose a sample callback for this data"
            )

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        data = datamodule_of(trainer)
        samples = module.sample(self.num_samples).cpu()
        constraints = " + ".join(type(c).__name__ for c in module.constraints) or "no constraint"
        title = f"{type(module.loss).__name__} + {constraints} on {data.name}, {module.g_iters} G iters"
        scatter_samples(self.path, samples, data.modes, data.reference(len(samples)), title)
