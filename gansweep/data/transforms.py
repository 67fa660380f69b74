"""uint8 image helpers shared by the image sources: center crop, antialiased resize, Pillow decoding, and
decoding many files in parallel into one uint8 tensor (torchvision cannot be imported beside the CPU torch)."""

from __future__ import annotations

import io
import logging
import math
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gansweep.data.checks import unreadable

log = logging.getLogger("gansweep")

Source = Union[bytes, str, Path]
Size = Union[int, Tuple[int, int]]
IMAGE_FORMAT = "an image Pillow decodes (JPEG, PNG, WebP, BMP, ...)"
IMAGE_FIX = "replace or remove it, or point dataset.root at a folder holding good copies"
BATCH = 256  # images decoded per DataLoader item


class TooSmallError(ValueError):
    """An image smaller than the crop asked for."""


def _pair(size: Size) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def center_crop(images: Tensor, size: Size) -> Tensor:
    """The central (h, w) window of [..., H, W] (offsets rounded as torchvision's CenterCrop); a view."""
    h, w = _pair(size)
    height, width = images.shape[-2:]
    if h > height or w > width:
        raise ValueError(f"cannot crop {h}x{w} from a {height}x{width} image")
    top, left = int(round((height - h) / 2.0)), int(round((width - w) / 2.0))
    return images[..., top : top + h, left : left + w]


def center_square(images: Tensor) -> Tensor:
    """The largest central square of [..., H, W]."""
    return center_crop(images, min(images.shape[-2:]))


def resize(images: Tensor, size: Size) -> Tensor:
    """Antialiased bilinear resize of uint8 [C, H, W] or [N, C, H, W] (as torchvision's Resize on tensors),
    rounded and clamped back to uint8."""
    h, w = _pair(size)
    if tuple(images.shape[-2:]) == (h, w):
        return images
    batch = images.unsqueeze(0) if images.dim() == 3 else images
    out = F.interpolate(batch.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out[0] if images.dim() == 3 else out


def decode(source: Source, draft: Optional[Tuple[int, int]] = None) -> Tensor:
    """One image file or encoded bytes (JPEG, PNG, WebP, ...) as uint8 RGB [3, H, W]. draft: a JPEG is
    decoded at the smallest 1/2, 1/4 or 1/8 scale that stays at least this (w, h): a big speed-up."""
    with _open(source) as img:
        if draft is not None and img.format == "JPEG":
            img.draft("RGB", draft)
        return _rgb(img)


def load_square(source: Source, size: int, crop: Optional[int] = None) -> Tensor:
    """Decode, take the central crop x crop square (None: the largest one), resize to size x size: uint8
    [3, size, size]. A JPEG much larger than needed is decoded at 1/2, 1/4 or 1/8 scale first."""
    with _open(source) as img:
        width, height = img.size
        side = min(width, height) if crop is None else crop
        if side > min(width, height):
            raise TooSmallError(f"cannot crop {side}x{side} from a {width}x{height} image ({_label(source)})")
        if img.format == "JPEG" and side > 2 * size:
            img.draft("RGB", (math.ceil(width * size / side), math.ceil(height * size / side)))
        image = _rgb(img)
    if image.shape[-1] != width:  # decoded at a reduced scale: the crop shrinks with it, never below `size`
        side = min(max(size, round(side * image.shape[-1] / width)), *image.shape[-2:])
    return resize(center_crop(image, side), size)


def _open(source: Source) -> Image.Image:
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)


def _rgb(img: Image.Image) -> Tensor:
    return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).contiguous()


def _label(source: Source) -> str:
    return f"{len(source)} bytes" if isinstance(source, bytes) else str(source)


class DecodedImages(Dataset):
    """Item i = load_square(fetch(i)): a map-style dataset so that a DataLoader's workers decode in parallel. An
    image that does not decode raises gansweep.data.checks.DataFileError naming it: `fetch.locate(i)` gives the
    (file, entry in it) to name when the fetcher has one, else the path fetched."""

    def __init__(self, count: int, fetch: Callable[[int], Source], size: int, crop: Optional[int] = None) -> None:
        self.count, self.fetch, self.size, self.crop = count, fetch, size, crop

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Tensor:
        source = self.fetch(i)
        try:
            return load_square(source, self.size, self.crop)
        except TooSmallError as err:
            path, entry = self.locate(i, source)
            expected = f"an image of at least {self.crop}x{self.crop} px (dataset.crop={self.crop})"
            fix = "lower dataset.crop (null: the largest central square), or remove the image"
            raise unreadable(path, expected, err, fix, entry=entry, key="dataset.crop") from err
        except Exception as err:  # whatever Pillow raises for bytes that are not an image, or a cut-off one
            path, entry = self.locate(i, source)
            raise unreadable(path, IMAGE_FORMAT, err, IMAGE_FIX, entry=entry) from err

    def locate(self, i: int, source: Source) -> Tuple[Path, str]:
        """The file to name for item i, and the entry inside it ("" for a file of its own)."""
        locate = getattr(self.fetch, "locate", None)
        if locate is not None:
            return locate(i)
        if isinstance(source, bytes):
            return Path(f"item {i}"), f"{len(source)} bytes"
        return Path(source), ""


class FileList:
    """fetch(i) = paths[i], picklable for DataLoader workers."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __call__(self, i: int) -> Source:
        return self.paths[i]


def decode_all(dataset: Dataset, shape: Tuple[int, int, int], num_workers: int, what: str) -> Tensor:
    """Every item of `dataset` (uint8 images of `shape`) stacked into one uint8 tensor, decoded by
    `num_workers` DataLoader workers (0: in this process); logs the count and the time taken."""
    count = len(dataset)  # type: ignore[arg-type]
    log.info("decoding %d images of %s with %d workers", count, what, num_workers)
    start = time.perf_counter()
    out = torch.empty((count, *shape), dtype=torch.uint8)
    loader = DataLoader(dataset, batch_size=BATCH, num_workers=num_workers, collate_fn=torch.stack)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one small image at a time: intra-op threads cost 10-20x (workers run with 1 anyway)
    pos, failed = 0, None
    try:
        for batch in loader:
            out[pos : pos + len(batch)] = batch
            pos += len(batch)
    except Exception as err:
        if num_workers == 0:
            raise
        failed = f"{type(err).__name__}: {err}"  # a worker's error comes back as the text of its traceback
    finally:
        torch.set_num_threads(threads)
    if failed is not None:  # outside the handler, so that no traceback keeps the loader (and its workers) alive
        for i in range(pos, min(pos + BATCH, count)):
            dataset[i]  # that batch again, here: raises the error itself (a DataFileError naming the file)
        raise RuntimeError(f"decoding {what} failed in a DataLoader worker: {failed}")
    log.info("decoded %d images of %s in %.1f s", count, what, time.perf_counter() - start)
    return out
