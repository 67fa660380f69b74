"""CelebA 64x64: the aligned-and-cropped JPEGs (`img_align_celeba/`, 202,599 faces of 178x218), a central
face crop (108 or 140 px) resized to 64 with antialiasing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from gansweep.data.image_folder import ImageFolderDataModule
from gansweep.data.images import require_root

FOLDER = "img_align_celeba"


class CelebADataModule(ImageFolderDataModule):
    """CelebA's img_align_celeba/ under dataset.root (or dataset.root itself), every image, face-cropped."""

    name = "celeba64"
    expected = f"{FOLDER}/ (the aligned JPEGs 000001.jpg ... 202599.jpg)"
    download_hint = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images, img_align_celeba.zip)"

    def __init__(self, crop: Optional[int] = 108, resolution: int = 64, **base: Any) -> None:
        super().__init__(resolution=resolution, crop=crop, **base)

    def image_dir(self) -> Path:
        root = require_root(self.name, self.root, self.expected, self.download_hint)
        return root if root.name == FOLDER else root / FOLDER
