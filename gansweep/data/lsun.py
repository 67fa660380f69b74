"""LSUN scenes at 64x64 (WGAN-GP's bedrooms, churches): the official LMDB export, whose values are encoded
images (WebP or JPEG, shorter side 256), read through the optional `lmdb` package; or a folder of images.
Each image: largest central square, antialiased resize to `resolution`."""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

from torch import Tensor

from gansweep.data.checks import unreadable
from gansweep.data.image_folder import ImageFolderDataModule, has_image
from gansweep.data.images import MissingDataError, file_signature, require_root
from gansweep.data.transforms import DecodedImages, decode_all

CONFIG_NAMES = {"bedroom": "lsun_bedroom64", "church_outdoor": "lsun_church64"}
INSTALL = 'pip install "gansweep[lsun]"'
LMDB_FORMAT = "an LMDB database (the official LSUN export: data.mdb, its values encoded images)"
LMDB_FIX = (
    "unzip a fresh copy of the official LSUN zip (http://dl.yf.io/lsun/scenes/) into dataset.root, "
    "or point dataset.root at a good copy"
)


class LmdbValues:
    """fetch(i) = the value stored under keys[i]; each process (DataLoader worker) opens the LMDB itself."""

    def __init__(self, path: Path, keys: List[bytes]) -> None:
        self.path, self.keys = path, keys
        self.env: Any = None

    def __call__(self, i: int) -> bytes:
        if self.env is None:
            self.env = open_lmdb(self.path)
        with lmdb_errors(self.path), self.env.begin(write=False) as txn:
            value = txn.get(self.keys[i])
        if value is None:
            raise KeyError(f"{self.keys[i]!r} vanished from {self.path}")
        return bytes(value)

    def locate(self, i: int) -> Tuple[Path, str]:
        """The file and entry named when value i is not an image."""
        return self.path / "data.mdb", f"entry {self.keys[i]!r}"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "env": None}

    def close(self) -> None:
        """Close this process's environment (py-lmdb opens one path once per process at a time)."""
        if self.env is not None:
            self.env.close()
            self.env = None


def open_lmdb(path: Path) -> Any:
    """A read-only LMDB environment (no lock file written, so a read-only dataset folder works)."""
    try:
        import lmdb
    except ImportError as err:
        raise ImportError(f"reading the LSUN LMDB {path} needs the lmdb package: {INSTALL}") from err
    with lmdb_errors(path):
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=512)
        needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    size = (path / "data.mdb").stat().st_size
    if size < needed:  # reading a page past the end of the file would kill the process (SIGBUS)
        env.close()
        cut = f"a database whose pages need {needed} bytes: a truncated copy"
        raise unreadable(path / "data.mdb", LMDB_FORMAT, cut, LMDB_FIX)
    return env


@contextmanager
def lmdb_errors(path: Path) -> Iterator[None]:
    """lmdb's errors (not an LMDB, a cut-off or corrupt one) as a DataFileError naming path/data.mdb."""
    import lmdb

    try:
        yield
    except lmdb.Error as err:
        raise unreadable(path / "data.mdb", LMDB_FORMAT, err, LMDB_FIX) from err


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

    def verify(self) -> None:
        """The LMDB opens, holds entries, and its first value decodes (or, for a folder, its first image does)."""
        path = self.lmdb_dir()
        if path is None:
            super().verify()
            return
        keys = self._keys(path, limit=1)
        if not keys:
            raise unreadable(path / "data.mdb", LMDB_FORMAT, "an LMDB with no entries", LMDB_FIX)
        values = LmdbValues(path, keys)
        try:
            DecodedImages(1, values, self.resolution, self.crop)[0]
        finally:
            values.close()

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
        values = LmdbValues(path, keys)
        try:
            dataset = DecodedImages(len(keys), values, self.resolution, self.crop)
            return decode_all(dataset, self.data_shape, self.num_workers, f"{self.name} in {path}")
        finally:
            values.close()

    def _keys(self, path: Path, limit: Optional[int] = None) -> List[bytes]:
        """The first `limit` (default: max_images) keys in LMDB (sorted) order, read without their values."""
        limit = self.max_images if limit is None else limit
        env = open_lmdb(path)
        try:
            with lmdb_errors(path), env.begin(write=False) as txn:
                keys: List[bytes] = []
                for key in txn.cursor().iternext(keys=True, values=False):
                    if limit is not None and len(keys) >= limit:
                        break
                    keys.append(bytes(key))
        finally:
            env.close()  # opened again in each worker: an LMDB environment must not cross a fork
        return keys
