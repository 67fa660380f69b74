"""FID against numpy/scipy (scipy.linalg.sqrtm) and KID against a brute-force unbiased MMD with the cubic kernel,
on the same feature vectors."""

import itertools

import numpy as np
import pytest
import scipy.linalg
import torch

from gansweep.metrics.fid import frechet_distance, kernel_distance, kid_subset_size


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mu_r, mu_g = real.mean(0), fake.mean(0)
    s_r, s_g = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(s_r @ s_g).real
    return float(((mu_r - mu_g) ** 2).sum() + np.trace(s_r + s_g - 2 * root))


def brute_force_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, every pair written out."""
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return float(xx + yy - 2 * xy)


@pytest.mark.parametrize("seed", [0, 1])
def test_fid_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))
    fake = rng.normal(loc=0.3, scale=1.5, size=(300, 8))
    ours = frechet_distance(torch.from_numpy(real).float(), torch.from_numpy(fake).float())
    assert ours == pytest.approx(scipy_fid(real.astype(np.float32), fake.astype(np.float32)), rel=1e-4)


def test_fid_of_a_set_with_itself_is_zero_and_a_shift_adds_its_square():
    real = torch.randn(500, 6, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-4)
    shift = torch.tensor([2.0, 0, 0, 0, 0, 0])
    assert frechet_distance(real, real + shift) == pytest.approx(4.0, abs=1e-4)


def test_kid_with_one_subset_of_everything_is_the_unbiased_mmd():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(30, 4))
    fake = rng.normal(loc=0.5, size=(30, 4))
    mean, std = kernel_distance(torch.from_numpy(real), torch.from_numpy(fake), subsets=1)
    assert mean == pytest.approx(brute_force_mmd(real, fake), rel=1e-9)
    assert std == 0.0


def test_kid_is_seeded_and_leaves_the_global_random_state_alone():
    real, fake = torch.randn(300, 5), torch.randn(300, 5) + 0.2
    state = torch.get_rng_state()
    first = kernel_distance(real, fake, seed=3, subsets=10)
    assert torch.equal(torch.get_rng_state(), state)
    assert kernel_distance(real, fake, seed=3, subsets=10) == first
    assert kernel_distance(real, fake, seed=4, subsets=10) != first


def test_kid_subset_size_is_1000_or_the_smaller_set():
    assert kid_subset_size(50000, 10000) == 1000
    assert kid_subset_size(64, 200) == 64


def test_mismatched_features_are_refused():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(torch.randn(10, 4), torch.randn(10, 5))
