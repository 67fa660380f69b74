"""Each grid point's own noise: the latent z and the interpolation epsilon of generator iteration i are drawn from a
generator seeded by (the point's seed, i), the evaluation noise from another such stream (gansweep.data.stream).

So a point draws the same numbers whether it trains alone or fused with others (each point's draws are its own), a
resumed run draws what the uninterrupted run would have (no generator state to save), and an evaluation never
changes training (it draws from its own stream).
"""

from __future__ import annotations

from typing import Callable, List, Sequence

import torch
from torch import Tensor

from gansweep.data.stream import item_generator, stream_seed

TRAINING, EVALUATION = 1, 2  # stream tags, mixed into the point's seed


class PointNoise:
    """Per-point random numbers for one generator iteration at a time. A draw's `shape` is the result's: with
    `fused` it leads with K and row k comes from point k's stream; otherwise it is drawn from the one point's."""

    def __init__(self, seeds: Sequence[int], fused: bool, tag: int = TRAINING) -> None:
        if not fused and len(seeds) != 1:
            raise ValueError(f"an ordinary run has one seed, got {len(seeds)}")
        self.keys = [stream_seed(int(seed), tag) for seed in seeds]
        self.fused = fused
        self._generators: List[torch.Generator] = []

    def begin(self, index: int, device: torch.device) -> None:
        """Start item `index` (a generator iteration) of every point's stream, on `device`."""
        self._generators = [item_generator(key, index, device) for key in self.keys]

    def randn(self, shape: Sequence[int], dtype: torch.dtype) -> Tensor:
        """N(0, 1) of `shape`."""
        return self._draw(torch.randn, shape, dtype)

    def rand(self, shape: Sequence[int], dtype: torch.dtype) -> Tensor:
        """U[0, 1) of `shape`."""
        return self._draw(torch.rand, shape, dtype)

    def _draw(self, draw: Callable[..., Tensor], shape: Sequence[int], dtype: torch.dtype) -> Tensor:
        if not self._generators:
            raise RuntimeError("PointNoise.begin(index, device) must be called before drawing")
        if self.fused and shape[0] != len(self._generators):
            raise ValueError(f"a fused draw leads with the {len(self._generators)} points, got shape {tuple(shape)}")
        each = tuple(shape[1:]) if self.fused else tuple(shape)
        tensors = [draw(each, generator=g, device=g.device, dtype=dtype) for g in self._generators]
        return torch.stack(tensors) if self.fused else tensors[0]
