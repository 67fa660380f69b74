"""Scatter plot of generated 2-D samples over the true modes (or a data sample when there are no modes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Tuple

from torch import Tensor


def scatter_samples(
    path: Path, samples: Tensor, modes: Optional[Tensor] = None, reference: Optional[Tensor] = None, title: str = ""
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def xy(points: Tensor) -> Tuple[Any, Any]:
        array = points.detach().cpu().numpy()
        return array[:, 0], array[:, 1]

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if reference is not None:
        ax.scatter(*xy(reference), s=2, c="tab:orange", alpha=0.3, label="data")
    ax.scatter(*xy(samples), s=2, c="tab:blue", alpha=0.5, label="generated")
    if modes is not None:
        ax.scatter(*xy(modes), s=60, marker="x", c="tab:red", label="true modes")
    frame = modes if reference is None else reference
    if frame is not None:  # keep the data in view even when a diverged generator throws samples far away
        lo, hi = frame.min(dim=0).values, frame.max(dim=0).values
        pad = 0.25 * (hi - lo).max().item() + 0.1
        ax.set_xlim(lo[0].item() - pad, hi[0].item() + pad)
        ax.set_ylim(lo[1].item() - pad, hi[1].item() + pad)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
