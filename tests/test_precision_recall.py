"""Improved precision/recall against a brute-force k-NN (scipy's pairwise distances, numpy sorting) on small sets."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from gansweep.metrics.precision_recall import knn_radii, precision_recall


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple:
    """The paper's definition written directly: full distance matrices, the k-th neighbour by a full sort."""

    def radii(x: np.ndarray) -> np.ndarray:
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself

    precision = np.mean([(cdist(f[None], real)[0] <= radii(real)).any() for f in fake])
    recall = np.mean([(cdist(r[None], fake)[0] <= radii(fake)).any() for r in real])
    return precision, recall


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunk", [7, 1024])  # 7: several blocks, the last one partial
def test_matches_brute_force_on_overlapping_gaussians(seed, chunk):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(60, 5))
    fake = rng.normal(loc=0.7, scale=1.4, size=(45, 5))
    ours = precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=3, chunk=chunk)
    expected = brute_force(real, fake, 3)
    assert (ours["precision"], ours["recall"]) == pytest.approx(expected, abs=1e-12)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1  # a case where both conditions matter


def test_perfect_overlap_collapse_and_disjoint_sets():
    rng = np.random.default_rng(3)
    real = torch.from_numpy(rng.normal(size=(50, 4)))
    assert precision_recall(real, real.clone()) == {"precision": 1.0, "recall": 1.0}
    collapsed = real[:1].repeat(40, 1) + 1e-9 * torch.from_numpy(rng.normal(size=(40, 4)))  # every sample at one point
    pr = precision_recall(real, collapsed)
    assert pr["precision"] == 1.0  # faithful...
    assert pr["recall"] == pytest.approx(brute_force(real.numpy(), collapsed.numpy(), 3)[1], abs=1e-12)
    assert pr["recall"] <= 3 / 50  # ...but covers at most the few real points around the collapse
    far = real + 100.0
    assert precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}


def test_radius_is_the_kth_other_neighbour():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(points, k=1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, k=2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="k=4 needs at least k \\+ 1 = 5 samples"):
        knn_radii(points, k=4)
