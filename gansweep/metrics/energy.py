"""Energy distance between two samples (Szekely & Rizzo): a network-free distance to the data distribution."""

from __future__ import annotations

import torch
from torch import Tensor


def energy_distance(x: Tensor, y: Tensor) -> float:
    """D^2 = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||, the V-statistic (diagonals included), in float64."""
    x = x.detach().flatten(1).to(torch.float64).cpu()
    y = y.detach().flatten(1).to(torch.float64).cpu()
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return float("nan")
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).mean()
    yy = torch.cdist(y, y).mean()
    return float(2.0 * xy - xx - yy)
