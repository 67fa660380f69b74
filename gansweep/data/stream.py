"""Counter-based real-data streams: item i of a run's stream (the real batches of generator iteration i) depends
only on (seed, i). A resumed run starts the stream at its checkpoint's iteration and draws exactly what the
uninterrupted run would have drawn: no generator state to save, and nothing repeated or skipped whatever the
loader had prefetched when the run stopped.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """One step of splitmix64 (Steele et al. 2014): nearby inputs give unrelated 64-bit outputs."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def stream_seed(seed: int, index: int) -> int:
    """The seed of item `index` of stream `seed`, for torch.Generator.manual_seed."""
    return _splitmix64((_splitmix64(seed) + index) & _MASK)


def item_generator(seed: int, index: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on `device` seeded for item `index` of stream `seed`."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, index))


def permutation_batches(n: int, take: int, start: int, steps: int, seed: int, device: torch.device) -> Iterator[Tensor]:
    """`steps` index tensors of `take` indices into n items, from item `start` on: epoch after epoch, each epoch a
    fresh permutation drawn from (seed, epoch), so item i covers stream positions [i * take, (i + 1) * take)."""
    epoch, pos = divmod(start * take, n)
    order = _permutation(n, seed, epoch, device)
    for _ in range(steps):
        parts, need = [], take
        while need:
            if pos == n:
                epoch, pos = epoch + 1, 0
                order = _permutation(n, seed, epoch, device)
            k = min(need, n - pos)
            parts.append(order[pos : pos + k])
            pos, need = pos + k, need - k
        yield parts[0] if len(parts) == 1 else torch.cat(parts)


def _permutation(n: int, seed: int, epoch: int, device: torch.device) -> Tensor:
    return torch.randperm(n, generator=item_generator(seed, epoch, device), device=device)
