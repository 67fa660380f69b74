"""What the benchmarks share: gansweep's side timed as a user runs it (the run path's fit: one point, or a fused
group), and a dataset already in memory, so that they measure training and evaluation, not file reading."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

from gansweep.data.images import ImageDataModule
from gansweep.run.fit import FitPoint, FitSettings, fit


def random_images(n: int, shape: Tuple[int, ...] = (3, 32, 32), seed: int = 0) -> Tensor:
    """n CIFAR-like uint8 images [n, *shape] of uniform noise, the same for a given seed."""
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


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


def timed_fit(
    points: Sequence[Tuple[Any, Any]], loss: Any, iters: int, batch: int, n_critic: int, device: str
) -> float:
    """Generator iterations per second of one fit of (data module, GANPoint) points (trainer start included), with
    nothing but the training: no evaluation, figure, checkpoint or logger."""
    settings = FitSettings(iters, batch, n_critic, {"accelerator": device, "devices": 1, "enable_progress_bar": False})
    start = time.perf_counter()
    fit([FitPoint(point, data) for data, point in points], loss, {"log_every": 50}, settings)
    return iters / (time.perf_counter() - start)


def interleaved(runs: Dict[str, Callable[[], float]], rounds: int) -> Dict[str, float]:
    """Each run's median rate over `rounds` rounds, the runs taking turns within a round (load that changes during
    the measurement hits every run alike)."""
    rates: Dict[str, List[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            rates[name].append(run())
    return {name: statistics.median(values) for name, values in rates.items()}
