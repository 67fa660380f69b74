"""Each grid point's own noise: the latent z and the interpolation epsilon of generator iteration i are drawn from a
generator seeded by (the point's seed, i), the evaluation noise from another such stream (gansweep.data.stream).

So a point draws the same numbers whether it trains alone or fused with others (each point's draws are its own), a
resumed run draws what the uninterrupted run would have (no generator state to save), and an evaluation never
changes training (it draws from its own stream).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from gansweep.data.stream import item_generator, stream_seed

TRAINING, EVALUATION = 1, 2  # stream tags, mixed into the point's seed
Mark = Tuple[Dict[str, Optional[Tensor]], Dict[str, int], List[Tensor]]  # pools, offsets, generator states


class PointNoise:
    """Per-point random numbers for one generator iteration at a time. A draw's `shape` is the result's: with
    `fused` it leads with K and row k comes from point k's stream; otherwise it is drawn from the one point's.

    Draws are served from per-point pools, one per kind (normal, uniform), filled in chunks of the size `begin`
    was told the iteration needs: one generator call per point and kind, not one per draw (a fused group of 16
    would otherwise spend more time in small random calls than in its networks). The chunking is the same alone
    and fused, so the numbers are too."""

    def __init__(self, seeds: Sequence[int], fused: bool, tag: int = TRAINING) -> None:
        if not fused and len(seeds) != 1:
            raise ValueError(f"an ordinary run has one seed, got {len(seeds)}")
        self.tag = tag
        self.keys = [stream_seed(int(seed), tag) for seed in seeds]
        self.offsets = [0] * len(self.keys)  # item i of point k's stream is iteration i + offsets[k] of the group's
        self.fused = fused
        self._generators: List[torch.Generator] = []
        self._index: Optional[Tuple[int, torch.device, torch.dtype]] = None
        self._dtype = torch.float32
        self._chunk: Dict[str, int] = {}
        self._pool: Dict[str, Optional[Tensor]] = {}
        self._offset: Dict[str, int] = {}

    def begin(self, index: int, device: torch.device, dtype: torch.dtype, normal: int = 0, uniform: int = 0) -> None:
        """Start item `index` (a generator iteration) of every point's stream, on `device`; `normal` and `uniform`:
        how many of each one point draws in it (more are drawn as needed)."""
        self._generators = [
            item_generator(key, index - at, device) for key, at in zip(self.keys, self.offsets, strict=True)
        ]
        self._index = (index, device, dtype)
        self._dtype = dtype
        self._chunk = {"normal": normal, "uniform": uniform}
        self._pool = {"normal": None, "uniform": None}
        self._offset = {"normal": 0, "uniform": 0}

    def restart(self, k: int, seed: int, offset: int) -> None:
        """Row k becomes another point's stream (seed `seed`) whose item 0 is the group's iteration `offset`: a fused
        group's slot taking a new point (gansweep.model.module.GANModule.refill) draws what that point draws alone."""
        self.keys[k] = stream_seed(int(seed), self.tag)
        self.offsets[k] = int(offset)
        self._index = None

    def at(self, index: int, device: torch.device, dtype: torch.dtype, normal: int = 0) -> None:
        """Item `index` of the streams, begun if it is not the current one and continued if it is: several draws at
        one generator iteration (an evaluation's batches) get fresh numbers, in a fixed order."""
        if self._index == (index, device, dtype):
            self._chunk["normal"] = normal
            return
        self.begin(index, device, dtype, normal=normal)

    def mark(self) -> Mark:
        """Where every stream stands in the current item (rewind() returns there: a step computed again draws the
        same numbers)."""
        return dict(self._pool), dict(self._offset), [g.get_state() for g in self._generators]

    def rewind(self, mark: Mark) -> None:
        pool, offset, states = mark
        self._pool, self._offset = dict(pool), dict(offset)
        for generator, state in zip(self._generators, states, strict=True):
            generator.set_state(state)

    def randn(self, shape: Sequence[int], dtype: torch.dtype) -> Tensor:
        """N(0, 1) of `shape`."""
        return self._take("normal", torch.randn, shape).to(dtype)

    def rand(self, shape: Sequence[int], dtype: torch.dtype) -> Tensor:
        """U[0, 1) of `shape`."""
        return self._take("uniform", torch.rand, shape).to(dtype)

    def _take(self, kind: str, draw: Callable[..., Tensor], shape: Sequence[int]) -> Tensor:
        if not self._generators:
            raise RuntimeError("PointNoise.begin(index, device, dtype) must be called before drawing")
        if self.fused and shape[0] != len(self._generators):
            raise ValueError(f"a fused draw leads with the {len(self._generators)} points, got shape {tuple(shape)}")
        count = math.prod(shape[1:] if self.fused else shape)
        pool, offset = self._pool[kind], self._offset[kind]
        if pool is None or offset + count > pool.shape[-1]:
            size = max(count, self._chunk[kind])
            parts = [draw(size, generator=g, device=g.device, dtype=self._dtype) for g in self._generators]
            pool, offset = (torch.stack(parts) if self.fused else parts[0]), 0
            self._pool[kind] = pool
        self._offset[kind] = offset + count
        return pool[..., offset : offset + count].reshape(tuple(shape))
