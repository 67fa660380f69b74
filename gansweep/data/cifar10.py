"""CIFAR-10 from the official python version: pickled dicts whose b"data" is N x 3072 uint8 in CHW order,
read from the extracted cifar-10-batches-py/ folder, the batch files themselves, or the .tar.gz unextracted;
downloaded (md5-checked, written atomically) when dataset.download=true."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import tarfile
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from gansweep.config import ConfigError
from gansweep.data.checks import REFETCH, DataFileError, init_kwargs, lacking, read_head, read_tail, unreadable
from gansweep.data.images import ImageDataModule, MissingDataError, file_signature

log = logging.getLogger("gansweep")

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
DEFAULT_DOWNLOAD_ROOT = "~/.cache/gansweep/data"  # where download=true puts the archive when dataset.root is null
BATCH_FORMAT = "a CIFAR-10 python batch: a pickled dict with b'data' (N x 3072 uint8) and b'labels' (N ints)"
ARCHIVE_FORMAT = f"the official {ARCHIVE}: a gzip-compressed tar holding {FOLDER}/data_batch_1..5 and test_batch"
PICKLE_STARTS = (b"\x80", b"(", b"}")  # PROTO (protocol 2+, the official files), or a protocol 0/1 dict


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


class BatchFileError(DataFileError, pickle.UnpicklingError):
    """A CIFAR-10 batch (or archive) that cannot be read; an UnpicklingError too, for callers that catch that."""


def load_batch(file: IO[bytes], path: Path, member: str = "") -> Tuple[Tensor, Tensor]:
    """One official batch as uint8 images [N, 3, 32, 32] and int64 labels [N]; `path` (and the archive `member`)
    is the file named when it is not a batch."""
    try:
        batch = _BatchUnpickler(file, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32)
        labels = torch.as_tensor(batch[b"labels"], dtype=torch.int64)
        if labels.shape != (len(images),):
            raise ValueError(f"{len(images)} images but labels of shape {tuple(labels.shape)}")
    except Exception as err:  # anything that is not a batch: bad bytes, a cut-off file, another pickle
        entry = f"member {member}" if member else ""
        raise unreadable(path, BATCH_FORMAT, err, REFETCH, entry=entry, cls=BatchFileError) from err
    return images, labels


def check_batch_file(path: Path) -> None:
    """Cheap checks of one batch file (no unpickling): not empty, a pickle's first opcode, the STOP opcode last
    (a cut-off copy lacks it)."""
    head, tail = read_head(path, 1), read_tail(path, 1)
    problem = None
    if not head:
        problem = "an empty file"
    elif head not in PICKLE_STARTS:
        problem = f"a file starting with {read_head(path, 16)!r}, not a pickle"
    elif tail != b".":
        problem = "a pickle that does not end with its STOP opcode: a truncated copy"
    if problem:
        raise unreadable(path, BATCH_FORMAT, problem, REFETCH, cls=BatchFileError)


def check_archive(path: Path) -> None:
    """Cheap checks of the .tar.gz (no decompression past its first member): the gzip magic number, an
    uncompressed size (the gzip trailer) in whole 512-byte tar blocks (a cut-off copy's trailer is random bytes),
    a readable first tar member."""
    problem = None
    if read_head(path, 2) != b"\x1f\x8b":
        problem = f"a file starting with {read_head(path, 16)!r}, not a gzip file"
    elif int.from_bytes(read_tail(path, 4), "little") % 512:
        problem = "a gzip stream whose trailer is not that of a tar: a truncated copy"
    if problem is not None:
        raise unreadable(path, ARCHIVE_FORMAT, problem, REFETCH, cls=BatchFileError)
    try:
        with tarfile.open(path, "r:gz") as tar:
            first = tar.next()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise unreadable(path, ARCHIVE_FORMAT, err, REFETCH, cls=BatchFileError) from err
    if first is None:
        raise unreadable(path, ARCHIVE_FORMAT, "an empty tar", REFETCH, cls=BatchFileError)


def find_source(root: Optional[Path], split: str) -> Optional[Path]:
    """The folder holding the split's batch files, or the archive; None when neither is under `root`."""
    if root is None:
        return None
    names = SPLITS[split]
    for folder in (root / FOLDER, root):
        if all((folder / name).is_file() for name in names):
            return folder
    archive = root / ARCHIVE
    return archive if archive.is_file() else None


def can_create(folder: Path) -> bool:
    """Whether `folder` is, or can be made, a writable folder (its nearest existing ancestor is one)."""
    for path in (folder, *folder.parents):
        if path.exists():
            return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
    return False


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
        return find_source(self.root, self.split)

    @classmethod
    def preflight(cls, node: Mapping[str, Any]) -> None:
        """As every image source; with download=true and no files yet, only that the run can write the download
        (nothing is downloaded here: the run downloads as before)."""
        kwargs = init_kwargs(node)
        root, split = kwargs.get("root") or None, kwargs.get("split", "train")
        if kwargs.get("download") and split in SPLITS:
            folder = Path(root or DEFAULT_DOWNLOAD_ROOT).expanduser()
            if find_source(folder, split) is None:
                if not can_create(folder):
                    raise ConfigError(
                        f"dataset=cifar10: dataset.download=true cannot write {ARCHIVE} into {folder} (not a "
                        "writable folder): set dataset.root to a folder this user can write, or put the files there",
                        key="dataset.root",
                    )
                return
        super().preflight(node)

    def verify(self) -> None:
        """Every batch file of the split: not empty, a pickle, not cut off; the first one read whole (one file of
        30 MB, ~0.1 s). The archive: gzip, whole tar blocks, its first member."""
        source = self.source()
        assert source is not None, "check() found or downloaded the files"
        if not source.is_dir():
            check_archive(source)
            return
        paths = [source / name for name in SPLITS[self.split]]
        for path in paths:
            check_batch_file(path)
        with open(paths[0], "rb") as f:
            load_batch(f, paths[0])

    def check(self) -> None:
        if self.source() is not None:
            return
        expected = f"{FOLDER}/ ({', '.join(SPLITS[self.split])}) or {ARCHIVE}"
        if self.root is not None:
            expected += lacking([self.root / FOLDER, self.root], SPLITS[self.split])
        if not self.download or self.root is None:
            raise MissingDataError(self.name, self.root, expected, self.download_hint)
        try:
            download(self.root, URL, MD5)
        except OSError as err:  # offline, refused, or a corrupt transfer
            raise MissingDataError(
                self.name, self.root, f"{expected} (download failed: {err})", self.download_hint
            ) from err

    def source_signature(self) -> Optional[str]:
        """The split's batch files (or the archive), their sizes and modification times."""
        source = self.source()
        if source is None:
            return None
        paths = [source / name for name in SPLITS[self.split]] if source.is_dir() else [source]
        return file_signature(paths, {"split": self.split})

    def read(self) -> Tensor:
        source = self.source()
        assert source is not None, "check() found or downloaded the files"
        batches: Dict[str, Tuple[Tensor, Tensor]] = {}
        if source.is_dir():
            for name in SPLITS[self.split]:
                with open(source / name, "rb") as f:
                    batches[name] = load_batch(f, source / name)
        else:
            batches = self._read_archive(source)
        parts: List[Tuple[Tensor, Tensor]] = [batches[name] for name in SPLITS[self.split]]
        self.labels = torch.cat([labels for _, labels in parts])
        return torch.cat([images for images, _ in parts])

    def _read_archive(self, archive: Path) -> Dict[str, Tuple[Tensor, Tensor]]:
        """The split's batches straight out of the .tar.gz (one pass, nothing extracted)."""
        wanted, batches = set(SPLITS[self.split]), {}
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    name = Path(member.name).name
                    if member.isfile() and name in wanted and Path(member.name).parent.name == FOLDER:
                        file = tar.extractfile(member)
                        assert file is not None
                        data = file.read()  # here, so that a cut-off archive is the archive's error
                        batches[name] = load_batch(io.BytesIO(data), archive, member.name)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:  # not gzip, not a tar, or cut off
            raise unreadable(archive, ARCHIVE_FORMAT, err, REFETCH, cls=BatchFileError) from err
        missing = wanted - set(batches)
        if missing:
            lacks = f"no {', '.join(f'{FOLDER}/{name}' for name in sorted(missing))} in it"
            raise unreadable(archive, ARCHIVE_FORMAT, lacks, REFETCH, cls=BatchFileError)
        return batches
