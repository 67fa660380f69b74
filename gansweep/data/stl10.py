"""STL-10 from the official binary files (`unlabeled_X.bin`: 100,000 images of 96x96, each channel stored
column-major), resized with antialiasing to `resolution` (48: WGAN-GP/Bures ResNet, 64: DCGAN-64)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from gansweep.data.checks import lacking, unreadable
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
IMAGE_BYTES = 3 * SIDE * SIDE
URL = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"
IMAGES_FORMAT = f"STL-10 binary images: no header, {IMAGE_BYTES} bytes (3x96x96 uint8, column-major) per image"
LABELS_FORMAT = "STL-10 binary labels: no header, one byte (1..10) per image of the images file"
FIX = f"extract a fresh copy of {URL} into dataset.root, or point dataset.root at a good copy"


class STL10DataModule(ImageDataModule):
    """One split of STL-10 (`unlabeled`, the GAN papers' training set; `train`/`test` carry labels 0..9) from
    dataset.root or its stl10_binary/ folder; the resized tensor is cached under cache_dir."""

    name = "stl10"
    download_hint = f"{URL} (extract into dataset.root)"

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
            names = [p.name for p in (images, labels) if p is not None]
            expected = self._expected() + lacking([images.parent], names)
            raise MissingDataError(self.name, self.root, expected, self.download_hint)
        if images.stat().st_size % IMAGE_BYTES:
            whole = f"not a whole number of {IMAGE_BYTES}-byte images: a truncated download?"
            raise unreadable(images, IMAGES_FORMAT, whole, FIX)

    def verify(self) -> None:
        """The images file holds at least one image; the labels file (a labelled split) one label in 1..10 per image
        (it is read whole: 5,000 or 8,000 bytes)."""
        images, labels = self.files()
        count = images.stat().st_size // IMAGE_BYTES
        if count == 0:
            raise unreadable(images, IMAGES_FORMAT, "an empty file", FIX)
        if labels is not None:
            self._labels(labels, count)

    def _labels(self, path: Path, count: int) -> Tensor:
        """The labels file as int64 0..9, checked against the images' count."""
        raw = np.fromfile(path, dtype=np.uint8)
        problem = None
        if len(raw) != count:
            problem = f"{len(raw)} labels for the {count} images of {path.parent / SPLITS[self.split][0]}"
        elif len(raw) and (raw.min() < 1 or raw.max() > 10):
            problem = f"labels from {raw.min()} to {raw.max()}"
        if problem:
            raise unreadable(path, LABELS_FORMAT, problem, FIX)
        return torch.from_numpy(raw.astype(np.int64)) - 1  # 1..10 -> 0..9

    def cache_signature(self) -> Optional[str]:
        if self.resolution == SIDE:
            return None  # no decoding: reading the raw file is as fast as reading a cache
        return self.source_signature()

    def source_signature(self) -> str:
        """The images (and labels) files, their sizes and modification times, the split and the resolution."""
        return file_signature(
            [p for p in self.files() if p is not None], {"resolution": self.resolution, "split": self.split}
        )

    def read(self) -> Tensor:
        images, labels = self.files()
        try:
            raw = np.memmap(images, dtype=np.uint8, mode="r").reshape(-1, 3, SIDE, SIDE)
        except (ValueError, OSError) as err:  # empty, or cut off since check()
            raise unreadable(images, IMAGES_FORMAT, err, FIX) from err
        log.info("reading %d STL-10 images from %s at %dx%d", len(raw), images, self.resolution, self.resolution)
        out = torch.empty((len(raw), *self.data_shape), dtype=torch.uint8)
        for start in range(0, len(raw), 2048):
            chunk = torch.from_numpy(np.array(raw[start : start + 2048]))
            out[start : start + len(chunk)] = resize(chunk.transpose(2, 3), self.resolution)  # column-major -> HW
        if labels is not None:
            self.labels = self._labels(labels, len(raw))
        return out
