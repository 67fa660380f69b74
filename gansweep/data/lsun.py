"""LSUN scenes at 64x64 (WGAN-GP's bedrooms, churches): the official LMDB export, whose values are encoded
images (WebP or JPEG, shorter side 256), read through the optional `lmdb` package; or a folder of images.
Each image: largest central square, antialiased resize to `resolution`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, List, Optional

from torch import Tensor

from gansweep.data.image_folder import ImageFolderDataModule, has_image
from gansweep.data.images import MissingDataError, file_signature, require_root
from gansweep.data.transforms import DecodedImages, decode_all

CONFIG_NAMES = {"bedroom": "lsun_bedroom64", "church_outdoor": "lsun_church64"}
INSTALL = 'pip install "gansweep[lsun]"'


class LmdbValues:
    """fetch(i) = the value stored under keys[i]; each process (DataLoader worker) opens the LMDB itself."""

    def __init__(self, path: Path, keys: List[bytes]) -> None:
        self.path, self.keys = path, keys
        self.env: Any = None

    def __call__(self, i: int) -> bytes:
        if self.env is None:
            self.env = open_lmdb(self.path)
        with self.env.begin(write=False) as txn:
            value = txn.get(self.keys[i])
        if value is None:
            raise KeyError(f"{self.keys[i]!r} vanished from {self.path}")
        return bytes(value)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "env": None}


def open_lmdb(path: Path) -> Any:
    """A read-only LMDB environment (no lock file written, so a read-only dataset folder works)."""
    try:
        import lmdb
    except ImportError as err:
        raise ImportError(f"reading the LSUN LMDB {path} needs the lmdb package: {INSTALL}") from err
    return lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=512)


class LSUNDataModule(ImageFolderDataModule):
    """One LSUN category (`category`): `{category}_train_lmdb/` under dataset.root, or dataset.root itself an
    LMDB (holds data.mdb), or else the images found under dataset.root (recursive)."""

    def __init__(
        self,
        category: str = "bedroom",
        resolution: int = 64,
        crop: Optional[int] = None,
        max_images: Optional[int] = None,
        **base: Any,
    ) -> None:
        """max_images: keep the first N entries in key order (bedroom has 3,033,042; 12 KiB each at 64x64)."""
        self.category = category
        self.name = CONFIG_NAMES.get(category, f"lsun_{category}")
        self.expected = (
            f"{category}_train_lmdb/ (the official LMDB export: data.mdb, lock.mdb) or a folder of {category} images"
        )
        self.download_hint = (
            f"http://dl.yf.io/lsun/scenes/{category}_train_lmdb.zip (unzip into dataset.root), "
            f"or python download.py -c {category} of https://github.com/fyu/lsun"
        )
        super().__init__(resolution=resolution, crop=crop, max_images=max_images, **base)

    def lmdb_dir(self) -> Optional[Path]:
        """The LMDB folder when there is one, else None (a folder of images)."""
        root = require_root(self.name, self.root, self.expected, self.download_hint)
        for candidate in (root / f"{self.category}_train_lmdb", root):
            if (candidate / "data.mdb").is_file():
                return candidate
        return None

    def check(self) -> None:
        path = self.lmdb_dir()
        if path is None:
            if not has_image(self.image_dir()):
                raise MissingDataError(self.name, self.root, self.expected, self.download_hint)
        elif importlib.util.find_spec("lmdb") is None:  # fail now, not after the networks are built
            raise ImportError(f"dataset={self.name}: reading the LMDB {path} needs the lmdb package: {INSTALL}")

    def settings(self) -> dict:
        return {**super().settings(), "category": self.category}

    def cache_signature(self) -> Optional[str]:
        path = self.lmdb_dir()
        if path is None:
            return super().cache_signature()
        return file_signature([path / "data.mdb"], self.settings())

    def read(self) -> Tensor:
        path = self.lmdb_dir()
        if path is None:
            return super().read()
        keys = self._keys(path)
        dataset = DecodedImages(len(keys), LmdbValues(path, keys), self.resolution, self.crop)
        return decode_all(dataset, self.data_shape, self.num_workers, f"{self.name} in {path}")

    def _keys(self, path: Path) -> List[bytes]:
        """The first max_images keys in LMDB (sorted) order, read without their values."""
        env = open_lmdb(path)
        try:
            with env.begin(write=False) as txn:
                keys: List[bytes] = []
                for key in txn.cursor().iternext(keys=True, values=False):
                    if self.max_images is not None and len(keys) >= self.max_images:
                        break
                    keys.append(bytes(key))
        finally:
            env.close()  # opened again in each worker: an LMDB environment must not cross a fork
        return keys
