"""FID and KID between two sets of feature vectors, through torchmetrics (float64 accumulation). Features are
extracted once by gansweep (gansweep.metrics.inception, .digit_classifier) and handed over as they are, so cached
real features are reused and every metric of an evaluation sees the same vectors."""

from __future__ import annotations

import warnings
from typing import Tuple

import torch
from torch import Tensor, nn

KID_SUBSETS = 100  # torchmetrics' and the KID paper's default number of subsets
KID_SUBSET_SIZE = 1000


class _Given(nn.Module):
    """A 'feature extractor' for torchmetrics that returns its input: the features are already extracted."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def _check(real: Tensor, fake: Tensor) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be [N, D] with the same D; got {tuple(real.shape)} and {tuple(fake.shape)}")


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID: ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^1/2) of the two feature sets (torchmetrics)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check(real, fake)
    metric = FrechetInceptionDistance(feature=_Given(real.shape[1])).to(real.device)
    metric.update(real, real=True)
    metric.update(fake.to(real.device), real=False)
    return float(metric.compute())


def kid_subset_size(n_real: int, n_fake: int) -> int:
    """KID's subset size: 1,000 (the usual value), or the smaller sample count when there are fewer."""
    return min(KID_SUBSET_SIZE, n_real, n_fake)


def kernel_distance(real: Tensor, fake: Tensor, seed: int = 0, subsets: int = KID_SUBSETS) -> Tuple[float, float]:
    """KID: the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, mean and std over random
    subsets (torchmetrics), the subsets drawn from `seed` so that the global random state is left untouched."""
    from torchmetrics.image.kid import KernelInceptionDistance

    _check(real, fake)
    size = kid_subset_size(len(real), len(fake))
    with warnings.catch_warnings():  # "will save all extracted features": that is what KID needs
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=subsets, subset_size=size)
    metric = metric.to(real.device)
    metric.update(real, real=True)
    metric.update(fake.to(real.device), real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws the subsets with torch.randperm on the CPU
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)
