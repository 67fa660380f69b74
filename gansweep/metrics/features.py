"""Feature vectors of image sets for FID-style metrics: generated images quantised to uint8 as real ones are, and
the real features computed once per (dataset images, extractor weights, sample count) and cached on disk."""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import torch
from torch import Tensor

from gansweep.cache import cache_name, cached

log = logging.getLogger("gansweep")

REAL_SEED = 0  # the real subset is the same for every run seed: every point of a sweep shares its statistics
VERSION = 1  # bump when the way real features are computed changes; old cache files are then never read


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats -> uint8 0..255, the inverse of the datasets' v / 127.5 - 1 (StyleGAN2-ADA's quantisation)."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


@contextmanager
def full_precision() -> Iterator[None]:
    """TF32 off while features are extracted: training may turn it on (train.tf32), but the reference numbers
    (FID's Inception statistics) are fp32 ones."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def extract(extractor: Callable[[Tensor], Tensor], images: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """extractor(uint8 batch) for every batch of `images` (on any device), concatenated, float32 on `device`, in
    full fp32 precision."""
    with torch.no_grad(), full_precision():
        return torch.cat([extractor(b.to(device)).float() for b in images.split(batch_size)])


def real_subset(n_images: int, num_real: Optional[int]) -> Tensor:
    """Indices of the real images scored against: all of them (num_real null or >= n) in a fixed random order, else
    the first num_real of that order."""
    order = torch.randperm(n_images, generator=torch.Generator().manual_seed(REAL_SEED))
    return order if num_real is None or num_real >= n_images else order[:num_real]


def images_sha256(images: Tensor, block: int = 1024) -> str:
    """sha256 of the uint8 images' bytes: the cache key changes with any change to the real set."""
    digest = hashlib.sha256(str(tuple(images.shape)).encode())
    for chunk in images.split(block):
        digest.update(chunk.contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def real_features(
    images: Tensor,
    extractor: Callable[[Tensor], Tensor],
    key: Dict[str, Any],
    batch_size: int,
    device: torch.device,
    cache_dir: Optional[str | Path],
) -> Dict[str, Any]:
    """{"features": float32 [N, D] on the CPU, "key", "path": the cache file} of the real uint8 `images`, from the cache
    when an earlier run (or `gansweep-prepare`) computed them. `key` names the dataset and the extractor; the
    images' own digest, their count and VERSION are added to it."""
    full_key = {**key, "n": len(images), "images_sha256": images_sha256(images), "version": VERSION}

    def compute() -> Dict[str, Any]:
        log.info("computing the %s features of %d real images (once: later runs read the cache)", key, len(images))
        return {"features": extract(extractor, images, batch_size, device).cpu(), "key": str(full_key)}

    if cache_dir in (None, ""):
        return {**compute(), "path": None}
    prefix = f"real-{key.get('dataset', 'data')}-{key.get('extractor', 'features')}-n{len(images)}"
    path = Path(str(cache_dir)).expanduser() / cache_name(prefix, full_key)
    return {**cached(path, compute), "path": str(path)}
