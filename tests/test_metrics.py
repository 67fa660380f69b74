"""Toy metrics: mode coverage on constructed samples; energy distance against scipy."""

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch

from gansweep.data.toy import TOYS
from gansweep.metrics.energy import energy_distance
from gansweep.metrics.modes import mode_metrics

RING = TOYS["ring8"]()


def test_perfect_samples_cover_every_mode():
    samples = RING.modes.repeat(50, 1) + 0.5 * RING.std * torch.randn(400, 2)
    m = mode_metrics(samples, RING.modes, RING.std)
    assert m == {"modes_covered": 8, "n_modes": 8, "hq_pct": pytest.approx(100.0)}


def test_collapsed_samples_cover_one_mode():
    samples = RING.modes[3].repeat(400, 1)
    assert mode_metrics(samples, RING.modes, RING.std)["modes_covered"] == 1
    assert mode_metrics(samples, RING.modes, RING.std)["hq_pct"] == pytest.approx(100.0)


def test_off_mode_samples_are_not_high_quality():
    midpoints = 0.5 * (RING.modes + RING.modes.roll(1, dims=0))
    m = mode_metrics(midpoints.repeat(10, 1), RING.modes, RING.std)
    assert m["modes_covered"] == 0 and m["hq_pct"] == 0.0


def test_three_sigma_rule_and_non_finite_samples():
    std = RING.std
    at_mode = RING.modes[0]
    samples = torch.stack(
        [
            at_mode + torch.tensor([2.9 * std, 0.0]),
            at_mode + torch.tensor([3.1 * std, 0.0]),
            torch.full((2,), float("nan")),
        ]
    )
    m = mode_metrics(samples, RING.modes, std)
    assert m["modes_covered"] == 1
    assert m["hq_pct"] == pytest.approx(100.0 / 3)


def test_energy_distance_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=300), rng.normal(loc=0.5, size=200)
    ours = energy_distance(torch.from_numpy(u)[:, None], torch.from_numpy(v)[:, None])
    assert ours == pytest.approx(scipy.stats.energy_distance(u, v) ** 2, rel=1e-10)


def test_energy_distance_matches_cdist_in_two_dimensions():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(120, 2)), rng.normal(size=(90, 2)) + 1
    cd = scipy.spatial.distance.cdist
    expected = 2 * cd(x, y).mean() - cd(x, x).mean() - cd(y, y).mean()
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-10)
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(x)) == pytest.approx(0.0, abs=1e-12)


def test_energy_distance_of_non_finite_samples_is_nan():
    assert np.isnan(energy_distance(torch.tensor([[float("inf"), 0.0]]), torch.zeros(3, 2)))
