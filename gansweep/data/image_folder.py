"""Any folder of images (recursive): each is center-cropped to a square and resized to `resolution`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Tuple

from torch import Tensor

from gansweep.data.images import ImageDataModule, MissingDataError, file_signature, require_root
from gansweep.data.transforms import DecodedImages, FileList, decode_all

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_images(folder: Path) -> List[Path]:
    """Every image file under `folder` (recursive, by extension), sorted so that the order never depends on
    the file system."""
    found: List[Path] = []
    for dirpath, _, names in os.walk(folder, followlinks=True):
        found.extend(Path(dirpath) / n for n in names if n.lower().endswith(EXTENSIONS))
    return sorted(found)


def first_image(folder: Path) -> Optional[Path]:
    """An image file under `folder` (recursive), or None; stops at the first, so milliseconds even beside 200k
    files."""
    subfolders = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                subfolders.append(entry.path)
            elif entry.name.lower().endswith(EXTENSIONS):
                return Path(entry.path)
    for sub in sorted(subfolders):
        found = first_image(Path(sub))
        if found is not None:
            return found
    return None


def has_image(folder: Path) -> bool:
    """Whether `folder` holds at least one image (see first_image)."""
    return first_image(folder) is not None


class ImageFolderDataModule(ImageDataModule):
    """The images under dataset.root, recursive; center crop (`crop` px, or the largest square) then an
    antialiased resize to resolution x resolution. Decoded once, then cached under cache_dir."""

    name = "image_folder"
    expected = f"image files ({', '.join(EXTENSIONS)}, searched recursively)"

    def __init__(
        self, resolution: int = 64, crop: Optional[int] = None, max_images: Optional[int] = None, **base: Any
    ) -> None:
        """crop: side of the central square cut before resizing (None: the largest); max_images: keep the
        first N files in sorted order (None: all)."""
        if resolution < 1 or (crop is not None and crop < 1):
            raise ValueError(f"dataset.resolution={resolution} and dataset.crop={crop} must be positive")
        self.resolution, self.crop, self.max_images = resolution, crop, max_images
        self._files: Optional[List[Path]] = None
        super().__init__(**base)

    @property
    def data_shape(self) -> Tuple[int, int, int]:
        return (3, self.resolution, self.resolution)

    def image_dir(self) -> Path:
        """The folder searched for images."""
        return require_root(self.name, self.root, self.expected, self.download_hint)

    def check(self) -> None:
        folder = self.image_dir()
        if not folder.is_dir() or not has_image(folder):
            raise MissingDataError(self.name, self.root, self.expected, self.download_hint)

    def verify(self) -> None:
        """One image (the first found, not the whole listing) decodes and is large enough for the crop."""
        found = first_image(self.image_dir())
        assert found is not None, "check() found an image"
        DecodedImages(1, FileList([found]), self.resolution, self.crop)[0]

    def files(self) -> List[Path]:
        """The image files read, listed once per datamodule."""
        if self._files is None:
            self._files = list_images(self.image_dir())[: self.max_images]
        return self._files

    def settings(self) -> dict:
        return {"resolution": self.resolution, "crop": self.crop, "max_images": self.max_images}

    def cache_signature(self) -> Optional[str]:
        return file_signature(self.files(), self.settings())

    def read(self) -> Tensor:
        files = self.files()
        dataset = DecodedImages(len(files), FileList(files), self.resolution, self.crop)
        return decode_all(dataset, self.data_shape, self.num_workers, f"{self.name} in {self.image_dir()}")
