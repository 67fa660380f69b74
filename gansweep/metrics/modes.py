"""Mode coverage on mixtures of Gaussians (Bures GAN / VEEGAN protocol, 3-sigma rule)."""

from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor


def mode_metrics(samples: Tensor, modes: Tensor, std: float, n_sigma: float = 3.0) -> Dict[str, float]:
    """Each sample's nearest mode; it is high quality if within n_sigma * std of it.

    Returns modes_covered (modes with >= 1 high-quality sample), n_modes and hq_pct (% high quality).
    """
    samples = samples.detach().to(torch.float64).cpu()
    dist = torch.cdist(samples, modes.to(torch.float64))
    nearest_dist, nearest = dist.min(dim=1)
    finite = torch.isfinite(samples).all(dim=1)
    high_quality = finite & (nearest_dist < n_sigma * std)
    covered = torch.unique(nearest[high_quality]).numel()
    return {
        "modes_covered": int(covered),
        "n_modes": int(len(modes)),
        "hq_pct": 100.0 * high_quality.double().mean().item(),
    }
