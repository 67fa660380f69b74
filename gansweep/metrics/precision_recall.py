"""Improved precision and recall (Kynkaanniemi et al. 2019): each sample set's manifold is the union of balls around
its feature vectors, each ball reaching to that vector's k-th nearest neighbour in the same set. Precision is the
share of generated samples inside the real manifold (fidelity), recall the share of real samples inside the
generated one (coverage). torchmetrics has none; distances are computed in chunks so 10k x 10k fits in memory."""

from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor

K = 3  # the paper's neighbourhood size
CHUNK = 1024  # query rows per distance block: CHUNK x N distances at a time


def knn_radii(features: Tensor, k: int = K, chunk: int = CHUNK) -> Tensor:
    """Distance from each row to its k-th nearest other row of the same set (the row itself excluded)."""
    if not 1 <= k < len(features):
        raise ValueError(f"k={k} needs at least k + 1 = {k + 1} samples, got {len(features)}")
    radii = [
        torch.cdist(block, features).topk(k + 1, dim=1, largest=False).values[:, k]  # index 0: the row itself
        for block in features.split(chunk)
    ]
    return torch.cat(radii)


def inside(queries: Tensor, support: Tensor, radii: Tensor, chunk: int = CHUNK) -> Tensor:
    """For each query row, whether it lies within radius of some support row (a closed ball)."""
    return torch.cat([(torch.cdist(block, support) <= radii).any(dim=1) for block in queries.split(chunk)])


def precision_recall(real: Tensor, fake: Tensor, k: int = K, chunk: int = CHUNK) -> Dict[str, float]:
    """{"precision", "recall"} of generated features `fake` [N, D] against real features `real` [M, D], in float64."""
    real = real.detach().flatten(1).to(torch.float64)
    fake = fake.detach().flatten(1).to(torch.float64)
    precision = inside(fake, real, knn_radii(real, k, chunk), chunk).double().mean()
    recall = inside(real, fake, knn_radii(fake, k, chunk), chunk).double().mean()
    return {"precision": float(precision), "recall": float(recall)}
