"""Tiny datasets written in their real on-disk formats (CIFAR-10 python pickles, STL-10 binaries, CelebA JPEG
folder, LSUN LMDB), shared by the data tests and the smoke runs: nothing is faked above the files."""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
from pathlib import Path
from typing import Callable, Dict

import pytest
import torch
from PIL import Image

RED, GREEN, BLUE = (200, 30, 40), (20, 180, 60), (30, 40, 220)


def framed(width: int, height: int, side: int, inner=GREEN, outer=BLUE) -> Image.Image:
    """A width x height image whose central side x side square (torchvision's rounding) is `inner`, the rest `outer`."""
    img = Image.new("RGB", (width, height), outer)
    top, left = int(round((height - side) / 2)), int(round((width - side) / 2))
    img.paste(Image.new("RGB", (side, side), inner), (left, top))
    return img


def encoded(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the official batches: protocol 2, every str and bytes a byte string
    (SHORT_BINSTRING/BINSTRING, read back as bytes with encoding="bytes"), numpy.core.multiarray globals."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj) -> None:
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        size = len(data)
        head = pickle.SHORT_BINSTRING + bytes([size]) if size < 256 else pickle.BINSTRING + struct.pack("<i", size)
        self.write(head + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_batches(n: int = 4) -> dict:
    """The official batches' content: N x 3072 uint8 rows in CHW order, labels, names (str keys, as in Python 2)."""
    gen = torch.Generator().manual_seed(1)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        images = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
        batches[name] = {
            "batch_label": f"batch {i}",
            "labels": [(i + j) % 10 for j in range(n)],
            "data": images.reshape(n, 3072).numpy(),
            "filenames": [f"img_{i}_{j}.png" for j in range(n)],
        }
    return batches


def write_cifar_folder(folder: Path, batches: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, batch in batches.items():
        (folder / name).write_bytes(py2_pickle(batch))
    (folder / "batches.meta").write_bytes(py2_pickle({"label_names": ["airplane"], "num_vis": 3072}))


def write_stl(folder: Path, images: torch.Tensor, name: str = "unlabeled_X.bin") -> None:
    """The official binary layout: each image's channels stored column-major (x outer, y inner)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(images.transpose(2, 3).contiguous().numpy().tobytes())


def write_lmdb(path: Path, values: dict) -> None:
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key, value)
    env.close()


# -- a whole dataset.root per image source, for runs through the real config (tests/test_smoke.py) ----------
def _cifar10_root(root: Path, n: int) -> None:
    write_cifar_folder(root / "cifar-10-batches-py", cifar_batches(max(1, -(-n // 5))))  # 5 training batches


def _stl10_root(root: Path, n: int) -> None:
    gen = torch.Generator().manual_seed(2)
    write_stl(root / "stl10_binary", torch.randint(0, 256, (n, 3, 96, 96), generator=gen, dtype=torch.uint8))


def _celeba_root(root: Path, n: int) -> None:
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):  # the aligned faces' 178x218, named as the official 000001.jpg ...
        framed(178, 218, 108, inner=(20 * i % 256, 100, 100)).save(folder / f"{i + 1:06d}.jpg", quality=90)


def _lsun_root(category: str) -> Callable[[Path, int], None]:
    def write(root: Path, n: int) -> None:
        values = {  # keys as in the official export (sha1 hex), values WebP as most of its images are
            hashlib.sha1(str(i).encode()).hexdigest().encode(): encoded(
                framed(80, 64, 64, inner=(20 * i % 256, 60, 90)), "WEBP", quality=80
            )
            for i in range(n)
        }
        write_lmdb(root / f"{category}_train_lmdb", values)

    return write


ROOT_WRITERS: Dict[str, Callable[[Path, int], None]] = {
    "gansweep.data.cifar10.CIFAR10DataModule": _cifar10_root,
    "gansweep.data.stl10.STL10DataModule": _stl10_root,
    "gansweep.data.celeba.CelebADataModule": _celeba_root,
    "gansweep.data.digits.StackedDigitsDataModule": lambda root, n: None,  # ships with scikit-learn: no files
    "lsun:bedroom": _lsun_root("bedroom"),
    "lsun:church_outdoor": _lsun_root("church_outdoor"),
}


def source_key(dataset: dict) -> str:
    """Which writer a composed `dataset` node needs: its class, or lsun:CATEGORY (one class, two layouts)."""
    target = str(dataset["_target_"])
    return f"lsun:{dataset['category']}" if target.endswith("LSUNDataModule") else target


def write_dataset_root(dataset: dict, root: Path, n: int) -> Path:
    """Write `n` images of the source a composed `dataset` node reads into `root`, laid out as the official files."""
    key = source_key(dataset)
    if key not in ROOT_WRITERS:
        raise KeyError(f"no tiny on-disk writer for dataset {key}: add one to tests/fake_data.py ROOT_WRITERS")
    root.mkdir(parents=True, exist_ok=True)
    ROOT_WRITERS[key](root, n)
    return root
