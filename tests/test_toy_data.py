"""The toy distributions carry the constants of their papers, and sample what they claim."""

import math

import pytest
import torch

from gansweep.data.toy import TOYS, ToyDataModule
from gansweep.metrics.modes import mode_metrics


def test_ring8_is_gan_toy_8_gaussians():
    ring = TOYS["ring8"]()
    assert ring.modes.shape == (8, 2)
    assert torch.allclose(ring.modes.norm(dim=1), torch.full((8,), 2.0 / 1.414))
    assert ring.std == pytest.approx(0.02 / 1.414)


def test_grid25_is_gan_toy_25_gaussians():
    grid = TOYS["grid25"]()
    assert grid.modes.shape == (25, 2)
    assert set(grid.modes[:, 0].mul(2.828).round().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert grid.std == pytest.approx(0.05 / 2.828)


def test_bures_ring_and_grid():
    ring, grid = TOYS["bures_ring"](), TOYS["bures_grid"]()
    assert torch.allclose(ring.modes.norm(dim=1), torch.full((8,), 2.5))
    angles = torch.atan2(ring.modes[:, 1], ring.modes[:, 0]).remainder(2 * math.pi).sort().values
    assert torch.allclose(angles, torch.arange(8) * (2 * math.pi / 8), atol=1e-6)
    assert ring.std == 0.01 and grid.std == 0.05
    assert grid.modes.abs().max() == 4.0


@pytest.mark.parametrize("name", ["ring8", "grid25", "bures_ring", "bures_grid"])
def test_samples_are_the_mixture(name):
    dist = TOYS[name]()
    x = dist.sample(20000, torch.Generator().manual_seed(0))
    m = mode_metrics(x, dist.modes, dist.std)
    assert m["modes_covered"] == len(dist.modes)
    assert m["hq_pct"] > 98.5  # P(||N(0, s^2 I_2)|| < 3 s) = 1 - exp(-4.5) = 98.9%
    nearest = torch.cdist(x, dist.modes).argmin(dim=1)
    counts = torch.bincount(nearest, minlength=len(dist.modes)).double() / len(x)
    assert torch.allclose(counts, torch.full_like(counts, 1 / len(dist.modes)), atol=0.02)


def test_swissroll_shape_and_scale():
    x = TOYS["swissroll"]().sample(5000, torch.Generator().manual_seed(0))
    radius = x.norm(dim=1) * 7.5
    # t in [1.5 pi, 4.5 pi] and |(t cos t, t sin t)| = t, plus noise 0.25 per axis
    assert radius.min() > 1.5 * math.pi - 1.5 and radius.max() < 4.5 * math.pi + 1.5


def test_batches_per_generator_iteration_and_fixed_training_set():
    dm = ToyDataModule("bures_ring", n_points=100, seed=1)
    dm.setup()
    dm.configure_batches(batch_size=16, per_step=3, steps=4)
    batches = list(dm.train_dataloader())
    assert len(batches) == 4 and batches[0].shape == (3, 16, 2)
    training_set = {tuple(p) for p in dm._points.tolist()}
    assert all(tuple(p) in training_set for b in batches for p in b.reshape(-1, 2).tolist())
    again = list(dm.train_dataloader())
    assert torch.equal(batches[0], again[0])  # seeded


def test_unknown_toy_says_what_exists():
    with pytest.raises(ValueError, match="ring8"):
        ToyDataModule("moons")


def test_reference_sample_is_drawn_once_and_is_not_the_training_set():
    dm = ToyDataModule("bures_ring", n_points=100, seed=1)
    dm.setup()
    first = dm.reference(50)
    assert dm.reference(50) is first  # shared by evaluations and the plot
    assert torch.equal(ToyDataModule("bures_ring", n_points=100, seed=1).reference(50), first)  # seeded
    assert not {tuple(p) for p in first.tolist()} & {tuple(p) for p in dm._points.tolist()}
