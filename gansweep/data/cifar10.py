"""CIFAR-10 from the official python version: pickled dicts whose b"data" is N x 3072 uint8 in CHW order,
read from the extracted cifar-10-batches-py/ folder, the batch files themselves, or the .tar.gz unextracted;
downloaded (md5-checked, written atomically) when dataset.download=true."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from gansweep.data.images import ImageDataModule, MissingDataError

log = logging.getLogger("gansweep")

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
DEFAULT_DOWNLOAD_ROOT = "~/.cache/gansweep/data"  # where download=true puts the archive when dataset.root is null


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts of bytes, lists and numpy arrays) and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR-10 batch does not refer to {module}.{name}")
        return super().find_class(module, name)


def load_batch(file: IO[bytes]) -> Tuple[Tensor, Tensor]:
    """One official batch as uint8 images [N, 3, 32, 32] and int64 labels [N]."""
    batch = _BatchUnpickler(file, encoding="bytes").load()
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    images = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32)
    return images, torch.as_tensor(batch[b"labels"], dtype=torch.int64)


def download(folder: Path, url: str, md5: str) -> Path:
    """`url` into folder/cifar-10-python.tar.gz, written under a temporary name and renamed only once its md5
    matches: an interrupted or corrupt download never leaves a file that looks complete."""
    folder.mkdir(parents=True, exist_ok=True)
    target, part = folder / ARCHIVE, folder / f"{ARCHIVE}.{os.getpid()}.part"
    log.info("downloading %s into %s", url, folder)
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise OSError(f"{url} arrived with md5 {digest.hexdigest()}, expected {md5}: the file was discarded")
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    return target


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10's 50,000 training images (`split: train`, the papers' training set) or 10,000 test images
    (`split: test`), with labels; no decoding, so no cache."""

    name = "cifar10"
    download_hint = f"{URL} (or set dataset.download=true)"

    def __init__(self, split: str = "train", download: bool = False, **base: Any) -> None:
        """download: fetch the official archive into dataset.root (default ~/.cache/gansweep/data) when absent."""
        if split not in SPLITS:
            raise ValueError(f"dataset.split={split!r}; choose one of {', '.join(SPLITS)}")
        self.split, self.download = split, download
        if download and base.get("root") in (None, ""):
            base["root"] = DEFAULT_DOWNLOAD_ROOT
        super().__init__(**base)

    @property
    def data_shape(self) -> Tuple[int, int, int]:
        return (3, 32, 32)

    def source(self) -> Optional[Path]:
        """The folder holding the batch files, or the archive; None when neither is under dataset.root."""
        if self.root is None:
            return None
        names = SPLITS[self.split]
        for folder in (self.root / FOLDER, self.root):
            if all((folder / name).is_file() for name in names):
                return folder
        archive = self.root / ARCHIVE
        return archive if archive.is_file() else None

    def check(self) -> None:
        if self.source() is not None:
            return
        expected = f"{FOLDER}/ ({', '.join(SPLITS[self.split])}) or {ARCHIVE}"
        if not self.download or self.root is None:
            raise MissingDataError(self.name, self.root, expected, self.download_hint)
        try:
            download(self.root, URL, MD5)
        except OSError as err:  # offline, refused, or a corrupt transfer
            raise MissingDataError(
                self.name, self.root, f"{expected} (download failed: {err})", self.download_hint
            ) from err

    def read(self) -> Tensor:
        source = self.source()
        assert source is not None, "check() found or downloaded the files"
        batches: Dict[str, Tuple[Tensor, Tensor]] = {}
        if source.is_dir():
            for name in SPLITS[self.split]:
                with open(source / name, "rb") as f:
                    batches[name] = load_batch(f)
        else:
            batches = self._read_archive(source)
        parts: List[Tuple[Tensor, Tensor]] = [batches[name] for name in SPLITS[self.split]]
        self.labels = torch.cat([labels for _, labels in parts])
        return torch.cat([images for images, _ in parts])

    def _read_archive(self, archive: Path) -> Dict[str, Tuple[Tensor, Tensor]]:
        """The split's batches straight out of the .tar.gz (one pass, nothing extracted)."""
        wanted, batches = set(SPLITS[self.split]), {}
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in wanted and Path(member.name).parent.name == FOLDER:
                    file = tar.extractfile(member)
                    assert file is not None
                    batches[name] = load_batch(file)
        missing = wanted - set(batches)
        if missing:
            raise ValueError(f"{archive} lacks {FOLDER}/{', '.join(sorted(missing))}: not the official archive?")
        return batches
