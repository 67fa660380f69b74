"""STL-10 from the official binary files (`unlabeled_X.bin`: 100,000 images of 96x96, each channel stored
column-major), resized with antialiasing to `resolution` (48: WGAN-GP/Bures ResNet, 64: DCGAN-64)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from gansweep.data.images import ImageDataModule, MissingDataError, file_signature, require_root
from gansweep.data.transforms import resize

log = logging.getLogger("gansweep")

SIDE = 96
SPLITS = {
    "unlabeled": ("unlabeled_X.bin", None),
    "train": ("train_X.bin", "train_y.bin"),
    "test": ("test_X.bin", "test_y.bin"),
}
FOLDER = "stl10_binary"


class STL10DataModule(ImageDataModule):
    """One split of STL-10 (`unlabeled`, the GAN papers' training set; `train`/`test` carry labels 0..9) from
    dataset.root or its stl10_binary/ folder; the resized tensor is cached under cache_dir."""

    name = "stl10"
    download_hint = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz (extract into dataset.root)"

    def __init__(self, resolution: int = 48, split: str = "unlabeled", **base: Any) -> None:
        if split not in SPLITS:
            raise ValueError(f"dataset.split={split!r}; choose one of {', '.join(SPLITS)}")
        if resolution < 1:
            raise ValueError(f"dataset.resolution={resolution} must be positive")
        self.resolution, self.split = resolution, split
        super().__init__(**base)

    @property
    def data_shape(self) -> Tuple[int, int, int]:
        return (3, self.resolution, self.resolution)

    def files(self) -> Tuple[Path, Optional[Path]]:
        """The images file and, for labelled splits, the labels file."""
        images, labels = SPLITS[self.split]
        root = require_root(self.name, self.root, self._expected(), self.download_hint)
        folder = root / FOLDER if (root / FOLDER / images).is_file() else root
        return folder / images, None if labels is None else folder / labels

    def _expected(self) -> str:
        images, labels = SPLITS[self.split]
        return f"{images if labels is None else f'{images} and {labels}'} (or {FOLDER}/ holding them)"

    def check(self) -> None:
        images, labels = self.files()
        if not images.is_file() or (labels is not None and not labels.is_file()):
            raise MissingDataError(self.name, self.root, self._expected(), self.download_hint)
        if images.stat().st_size % (3 * SIDE * SIDE):
            raise ValueError(f"{images} is not a whole number of 3x96x96 images: truncated download?")

    def cache_signature(self) -> Optional[str]:
        if self.resolution == SIDE:
            return None  # no decoding: reading the raw file is as fast as reading a cache
        return file_signature(
            [p for p in self.files() if p is not None], {"resolution": self.resolution, "split": self.split}
        )

    def read(self) -> Tensor:
        images, labels = self.files()
        raw = np.memmap(images, dtype=np.uint8, mode="r").reshape(-1, 3, SIDE, SIDE)
        log.info("reading %d STL-10 images from %s at %dx%d", len(raw), images, self.resolution, self.resolution)
        out = torch.empty((len(raw), *self.data_shape), dtype=torch.uint8)
        for start in range(0, len(raw), 2048):
            chunk = torch.from_numpy(np.array(raw[start : start + 2048]))
            out[start : start + len(chunk)] = resize(chunk.transpose(2, 3), self.resolution)  # column-major -> HW
        if labels is not None:
            self.labels = torch.from_numpy(np.fromfile(labels, dtype=np.uint8).astype(np.int64)) - 1  # 1..10 -> 0..9
        return out
