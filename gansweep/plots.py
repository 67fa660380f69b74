"""Figures of generated samples: 2-D points over the true modes, and image grids."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Tuple

import torch
from torch import Tensor

from gansweep.files import write_atomic


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
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def save_image_grid(path: Path, images: Tensor, nrow: int = 8, padding: int = 2) -> Path:
    """Images in [-1, 1] ([N, C, H, W], C = 1 or 3) as one PNG grid, `nrow` per row, written atomically."""
    from PIL import Image

    n, c, h, w = images.shape
    ncol = -(-n // nrow)
    pixels = ((images.clamp(-1, 1).nan_to_num(0.0) + 1) * 127.5).round().to(torch.uint8)
    canvas = torch.zeros(c, ncol * (h + padding) + padding, nrow * (w + padding) + padding, dtype=torch.uint8)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        canvas[:, top : top + h, left : left + w] = pixels[i]
    array = canvas.permute(1, 2, 0).squeeze(-1).numpy()
    return write_atomic(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))
