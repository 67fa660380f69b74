"""2-D toy benchmarks: WGAN-GP's gan_toy (8 and 25 Gaussians, swiss roll) and Bures GAN's Ring and Grid."""

from __future__ import annotations

import math
from typing import Callable, Dict, Iterator, Optional, Protocol, Tuple

import pytorch_lightning as pl
import torch
from torch import Tensor

from gansweep.data.base import Preflight, training_device
from gansweep.data.stream import item_generator


class Distribution(Protocol):
    """A 2-D toy distribution: its modes and per-axis std (None without discrete modes), and a sampler."""

    @property
    def modes(self) -> Optional[Tensor]: ...

    @property
    def std(self) -> Optional[float]: ...

    def sample(self, n: int, generator: torch.Generator) -> Tensor: ...


class GaussianMixture:
    """Equal-weight isotropic Gaussians at `centres` with per-axis `std`, the whole sample divided by `scale`."""

    def __init__(self, centres: Tensor, std: float, scale: float = 1.0) -> None:
        self.modes = centres / scale
        self.std = std / scale

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """On the generator's device."""
        device = generator.device
        idx = torch.randint(len(self.modes), (n,), generator=generator, device=device)
        return self.modes.to(device)[idx] + self.std * torch.randn(n, 2, generator=generator, device=device)


class SwissRoll:
    """scikit-learn's make_swiss_roll(noise=0.25), columns (0, 2), divided by 7.5; it has no discrete modes."""

    modes: Optional[Tensor] = None
    std: Optional[float] = None

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """On the generator's device."""
        device = generator.device
        t = 1.5 * math.pi * (1.0 + 2.0 * torch.rand(n, generator=generator, device=device))
        roll = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
        return (roll + 0.25 * torch.randn(n, 2, generator=generator, device=device)) / 7.5


def _ring(n_modes: int, radius: float) -> Tensor:
    angles = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def _grid(coords: Tuple[float, ...]) -> Tensor:
    return torch.tensor([(x, y) for x in coords for y in coords], dtype=torch.float32)


_S = 1.0 / math.sqrt(2.0)
TOYS: Dict[str, Callable[[], Distribution]] = {
    # WGAN-GP gan_toy.py: centres 2*(+-1,0), 2*(0,+-1), 2*(+-1/sqrt2,+-1/sqrt2), std 0.02, / 1.414
    "ring8": lambda: GaussianMixture(
        2.0 * torch.tensor([(1, 0), (-1, 0), (0, 1), (0, -1), (_S, _S), (_S, -_S), (-_S, _S), (-_S, -_S)]),
        std=0.02,
        scale=1.414,
    ),
    # gan_toy.py: centres (2i, 2j), i, j in -2..2, std 0.05, / 2.828
    "grid25": lambda: GaussianMixture(_grid((-4.0, -2.0, 0.0, 2.0, 4.0)), std=0.05, scale=2.828),
    "swissroll": SwissRoll,
    # Bures GAN: Ring = 8 Gaussians of radius 2.5 at angles k*2pi/8, std 0.01
    "bures_ring": lambda: GaussianMixture(_ring(8, 2.5), std=0.01),
    # Bures GAN: Grid = 25 Gaussians on {-4,-2,0,2,4}^2, std 0.05
    "bures_grid": lambda: GaussianMixture(_grid((-4.0, -2.0, 0.0, 2.0, 4.0)), std=0.05),
}


class RealBatches:
    """`steps` items from item `start` on, each `per_step` real batches stacked as [per_step, batch_size, 2]: one
    per G iteration. Item i is drawn with its own generator seeded from (seed, i) (gansweep.data.stream), so a
    resumed run continues the stream."""

    def __init__(
        self,
        draw: Callable[[int, torch.Generator], Tensor],
        batch_size: int,
        per_step: int,
        steps: int,
        seed: int,
        start: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.draw, self.batch_size, self.per_step, self.steps = draw, batch_size, per_step, steps
        self.seed, self.start, self.device = seed, start, device

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Tensor]:
        for index in range(self.start, self.start + self.steps):
            generator = item_generator(self.seed, index, self.device)
            yield self.draw(self.per_step * self.batch_size, generator).view(self.per_step, self.batch_size, -1)


class ToyDataModule(Preflight, pl.LightningDataModule):
    """A 2-D toy distribution: a fresh sample every batch (n_points null, WGAN-GP) or a fixed set (Bures: 10k)."""

    data_shape = (2,)

    def __init__(
        self, name: str, n_points: Optional[int] = None, seed: int = 0, protocol: Optional[dict] = None
    ) -> None:
        """protocol: the benchmark's own hyperparameters (e.g. gp_weight), read by other configs by interpolation."""
        super().__init__()
        self.protocol = dict(protocol or {})
        if name not in TOYS:
            raise ValueError(f"dataset.name={name!r} is not a toy dataset; choose one of {', '.join(TOYS)}")
        self.name, self.n_points, self.seed = name, n_points, seed
        self.distribution = TOYS[name]()
        self.modes: Optional[Tensor] = self.distribution.modes
        self.mode_std: Optional[float] = self.distribution.std
        self.batch_size, self.per_step, self.steps, self.start = 256, 1, 1, 0
        self._points: Optional[Tensor] = None
        self._reference: Optional[Tensor] = None

    def configure_batches(self, batch_size: int, per_step: int, steps: int, start: int = 0) -> None:
        """How the trainer consumes data: `per_step` real batches per generator iteration, `steps` iterations from
        iteration `start` on (a resumed run continues the stream there)."""
        self.batch_size, self.per_step, self.steps, self.start = batch_size, per_step, steps, start

    def setup(self, stage: Optional[str] = None) -> None:
        if self.n_points is not None and self._points is None:
            self._points = self.distribution.sample(self.n_points, torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> RealBatches:
        """Batches drawn on the training device (no host-to-device copy per step)."""
        device = training_device(self)
        draw: Callable[[int, torch.Generator], Tensor] = self.distribution.sample
        if self._points is not None:
            points = self._points.to(device)
            draw = lambda n, gen: points[torch.randint(len(points), (n,), generator=gen, device=device)]  # noqa: E731
        return RealBatches(draw, self.batch_size, self.per_step, self.steps, self.seed + 1, self.start, device)

    def reference(self, n: int) -> Tensor:
        """A fresh sample of the true distribution (seeded, not the training set), for sample-based distances;
        drawn once and shared by every evaluation and plot of the run."""
        if self._reference is None or len(self._reference) != n:
            self._reference = self.distribution.sample(n, torch.Generator().manual_seed(self.seed + 2))
        return self._reference
