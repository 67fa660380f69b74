"""Image benchmarks: a source's images are read once into a uint8 tensor, then batches are drawn on the device.

Each source (CIFAR-10, STL-10, CelebA, LSUN, a folder, stacked digits) is a subclass that says where its
files are (`check`, in milliseconds, before any network is built) and how to read them (`read`). The points of a
fused group read one tensor: a source with a `source_signature` is read once per process while a point holds it
(gansweep.cache.SHARED), and every point draws its own batches from it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from gansweep.cache import SHARED, cached
from gansweep.config import ConfigError
from gansweep.data.base import Preflight, training_device
from gansweep.data.checks import init_kwargs
from gansweep.data.stream import item_generator, permutation_batches

log = logging.getLogger("gansweep")


class MissingDataError(ConfigError, FileNotFoundError):
    """A dataset's files are not where the config says: the message names the files, the folder, the key
    to set and, where one exists, the download. A ConfigError on dataset.root (and a FileNotFoundError)."""

    def __init__(self, dataset: str, folder: Optional[Path], expected: str, download: Optional[str] = None) -> None:
        where = f"in {folder}" if folder is not None else "(dataset.root is not set)"
        lines = [
            f"dataset={dataset}: {expected} not found {where}.",
            f"Set dataset.root=PATH to the folder that holds them: gansweep dataset={dataset} dataset.root=PATH",
        ]
        if download:
            lines.append(f"Download: {download}")
        super().__init__("\n".join(lines), key="dataset.root")
        self._init_args = (dataset, folder, expected, download)

    def __reduce__(self) -> Any:
        """Picklable, so a launcher's worker process can send it back."""
        return (type(self), self._init_args)


def require_root(dataset: str, root: Optional[str | Path], expected: str, download: Optional[str] = None) -> Path:
    """dataset.root as an existing folder, or a MissingDataError that says what to set."""
    if root is None or str(root) in ("", "???"):
        raise MissingDataError(dataset, None, expected, download)
    path = Path(root).expanduser()
    if not path.is_dir():
        raise MissingDataError(dataset, path, expected, download)
    return path


@dataclass(eq=False)
class Decoded:
    """A source's images and labels as `read` gave them: what the points of a group share (never written to)."""

    images: Tensor
    labels: Optional[Tensor]


class ImageDataModule(Preflight, pl.LightningDataModule):
    """uint8 images [N, C, H, W] yielded as [per_step, batch, C, H, W] uint8 index batches and scaled to
    [-1, 1] on the device after transfer (4x fewer bytes cross the bus than floats would).

    On a GPU the whole set lives on the device when it fits (`on_device=auto`), and batches are drawn there
    with no DataLoader; otherwise (or with on_device=false) a DataLoader with workers and pinned memory. On a
    CPU the tensor is indexed directly. Every epoch is a fresh permutation (sampling without replacement, as
    the papers' loaders do), drawn from (seed, epoch) on both paths, so a resumed run continues the stream where
    its checkpoint left it (gansweep.data.stream).
    """

    name = "images"
    download_hint: Optional[str] = None

    def __init__(
        self,
        root: Optional[str] = None,
        seed: int = 0,
        on_device: Any = "auto",
        num_workers: int = 2,
        dequantize: bool = False,
        cache_dir: Optional[str] = None,
        protocol: Optional[dict] = None,
    ) -> None:
        """dequantize: add U[0, 1) to the 0..255 values before scaling (WGAN-GP ResNet: 2(x/256 - 0.5) + U[0, 1/128));
        cache_dir: where decoded sources (JPEG folders, LMDB, resized STL) keep their uint8 tensor for the next run."""
        super().__init__()
        if on_device not in ("auto", True, False):
            raise ValueError(f"dataset.on_device is auto, true or false; got {on_device!r}")
        self.root = Path(root).expanduser() if root not in (None, "") else None
        self.seed, self.on_device, self.num_workers, self.dequantize = seed, on_device, num_workers, dequantize
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.protocol = dict(protocol or {})
        self.batch_size, self.per_step, self.steps, self.start = 64, 1, 1, 0
        self.channels_last = False  # set by gansweep.callbacks.device.DeviceSettings on CUDA
        self.images: Optional[Tensor] = None
        self.labels: Optional[Tensor] = None
        self._decoded: Optional[Decoded] = None  # held until the batches are drawn: other points may share it
        self.check()  # missing files fail here, in milliseconds, before any network is built

    # -- what a source implements ---------------------------------------------------------------------
    @property
    def data_shape(self) -> Tuple[int, int, int]:
        """(C, H, W) of the images `read` returns, known before reading (the networks are built from it)."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise MissingDataError at once when the source's files are absent."""
        raise NotImplementedError

    def verify(self) -> None:
        """The files check() found are readable as their format, judged cheaply (sizes, headers, the first record;
        never the whole set); raise gansweep.data.checks.DataFileError naming the file. Nothing by default."""

    def read(self) -> Tensor:
        """Every training image as uint8 [N, C, H, W] at `data_shape` (may also set self.labels)."""
        raise NotImplementedError

    def cache_signature(self) -> Optional[str]:
        """A string that changes whenever the files or the decoding settings change; None: never cached."""
        return None

    def source_signature(self) -> Optional[str]:
        """A string that changes whenever what `read` returns would (files with their sizes and times, decoding
        settings); None: the images are never shared. The cache's signature by default."""
        return self.cache_signature()

    def shared_key(self) -> Optional[Tuple[str, ...]]:
        """What names this source's uint8 images within a process (class, shape, source signature), or None."""
        signature = self.source_signature()
        if signature is None:
            return None
        source = f"{type(self).__module__}.{type(self).__qualname__}"
        return (source, "x".join(map(str, self.data_shape)), signature)

    @classmethod
    def preflight(cls, node: Mapping[str, Any]) -> None:
        """Build the datamodule from `node` as the run will (its check(): the files are there, or are downloaded by
        the run), then verify() what is there; any failure is a ConfigError that says what to change."""
        try:
            module = cls(**init_kwargs(node))
        except ConfigError:
            raise
        except (ValueError, ImportError) as err:  # a dataset value that cannot work, a missing optional package
            raise ConfigError(f"dataset ({node.get('_target_', cls.__name__)}): {err}", key="dataset") from err
        module.verify()

    # -- Lightning -------------------------------------------------------------------------------------
    def configure_batches(self, batch_size: int, per_step: int, steps: int, start: int = 0) -> None:
        """How the trainer consumes data: `per_step` real batches per generator iteration, `steps` iterations from
        iteration `start` on (a resumed run continues the stream there)."""
        self.batch_size, self.per_step, self.steps, self.start = batch_size, per_step, steps, start
        self._item = start  # the item on_after_batch_transfer sees next (its dequantisation stream)

    def setup(self, stage: Optional[str] = None) -> None:
        if self.images is None:
            self.images = self._read_shared()
            expected = tuple(self.data_shape)
            if self.images.dtype != torch.uint8 or tuple(self.images.shape[1:]) != expected:
                raise ValueError(
                    f"{type(self).__name__}.read gave {tuple(self.images.shape)} {self.images.dtype}; "
                    f"expected uint8 [N, {', '.join(map(str, expected))}]"
                )
            if len(self.images) < self.batch_size:
                raise ValueError(
                    f"dataset={self.name} has {len(self.images)} images, fewer than train.batch_size={self.batch_size}"
                )
            log.info("dataset=%s: %d images of %s", self.name, len(self.images), "x".join(map(str, expected)))

    def train_dataloader(self) -> Any:
        assert self.images is not None, "setup() reads the images"
        device = training_device(self)
        on_device = self._fits(device)
        self.images = self._placed(device if on_device else self.images.device)
        self._decoded = None  # every point of the group is set up: the host copy lives on only where it is used
        if on_device:
            return DeviceBatches(self.images, self.batch_size, self.per_step, self.steps, self.seed + 1, self.start)
        take = self.per_step * self.batch_size
        return DataLoader(
            _Indexed(self.images),
            batch_size=take,
            sampler=StreamSampler(len(self.images), take, self.start, self.steps, self.seed + 1),
            generator=torch.Generator().manual_seed(self.seed),  # workers' base seed, never the global generator
            num_workers=self.num_workers,
            pin_memory=device.type == "cuda",
            drop_last=True,
            collate_fn=_Stack(self.per_step),
            persistent_workers=self.num_workers > 0,
        )

    def on_after_batch_transfer(self, batch: Tensor, dataloader_idx: int) -> Tensor:
        """uint8 -> float in [-1, 1], on the device; dequantisation noise of item i from the stream (seed, i), so it
        does not depend on the global generator (a resumed run and a fused point draw what the run draws alone)."""
        x = batch.float()
        if self.dequantize:
            generator = item_generator(self.seed + 3, getattr(self, "_item", 0), x.device)
            self._item = getattr(self, "_item", 0) + 1
            return (x + torch.rand(x.shape, generator=generator, device=x.device)).div_(128.0).sub_(1.0)
        return x.div_(127.5).sub_(1.0)

    def real_images(self, n: int) -> Tensor:
        """n training images in [-1, 1] (seeded, the same for every call), for evaluations and plots."""
        assert self.images is not None, "setup() reads the images"
        idx = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(self.seed + 2))[:n]
        return self.images[idx.to(self.images.device)].float().div_(127.5).sub_(1.0)

    # -- internals -------------------------------------------------------------------------------------
    def _fits(self, device: torch.device) -> bool:
        """true/false as set; `auto` keeps the set on the device: always on a CPU (it is already there), on a
        GPU when it takes at most a quarter of the free memory."""
        if self.on_device != "auto":
            return bool(self.on_device)
        if device.type != "cuda" or SHARED.holds(self._placement_key(device)):  # another point put it there
            return True
        assert self.images is not None
        free, _ = torch.cuda.mem_get_info(device)
        return self.images.numel() <= free // 4

    def _read_shared(self) -> Tensor:
        """The images (and labels) as read, shared with every point of this process that reads the same source."""

        def read() -> Decoded:
            images = self._read_cached()
            return Decoded(images, self.labels)

        key = self.shared_key()
        self._decoded = read() if key is None else SHARED.get(("images", *key), read)
        self.labels = self._decoded.labels
        return self._decoded.images

    def _placement_key(self, device: torch.device) -> Optional[Tuple[str, ...]]:
        key = self.shared_key()
        layout = "channels_last" if self.channels_last else "contiguous"
        return None if key is None else ("placed", *key, str(device), layout)

    def _placed(self, device: torch.device) -> Tensor:
        """The images in the training memory format (channels-last when set) on `device`: one tensor per process for
        the points that share the source."""
        images = self.images
        assert images is not None
        layout = torch.channels_last if self.channels_last else torch.contiguous_format

        def place() -> Tensor:
            return images.contiguous(memory_format=layout).to(device)

        key = self._placement_key(device)
        return place() if key is None else SHARED.get(key, place)

    def _read_cached(self) -> Tensor:
        """read(), or the uint8 tensor a previous run with the same signature saved under cache_dir."""
        signature = self.cache_signature()
        if signature is None or self.cache_dir is None:
            return self.read()
        digest = hashlib.sha256(f"{type(self).__qualname__}|{signature}".encode()).hexdigest()[:16]
        path = self.cache_dir / f"{self.name}-{'x'.join(map(str, self.data_shape))}-{digest}.pt"
        # concurrent runs of a sweep decode once and never read half a file; read() may set self.labels
        saved = cached(path, lambda: {"images": self.read(), "labels": self.labels})
        self.labels = saved.get("labels")
        return saved["images"]


class DeviceBatches:
    """`steps` items of [per_step, batch, C, H, W] uint8 from item `start` on, indexed on the images' own device:
    every epoch a fresh permutation drawn there, so no host round trip and no synchronisation."""

    def __init__(self, images: Tensor, batch_size: int, per_step: int, steps: int, seed: int, start: int = 0) -> None:
        self.images, self.batch_size, self.per_step, self.steps = images, batch_size, per_step, steps
        self.seed, self.start = seed, start

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Tensor]:
        take = self.per_step * self.batch_size
        for idx in permutation_batches(len(self.images), take, self.start, self.steps, self.seed, self.images.device):
            yield self.images[idx].view(self.per_step, self.batch_size, *self.images.shape[1:])


class StreamSampler(Sampler[int]):
    """The DataLoader path's indices: the same stream as DeviceBatches, drawn on the CPU in the main process."""

    def __init__(self, n: int, take: int, start: int, steps: int, seed: int) -> None:
        self.n, self.take, self.start, self.steps, self.seed = n, take, start, steps, seed

    def __len__(self) -> int:
        return self.steps * self.take

    def __iter__(self) -> Iterator[int]:
        for idx in permutation_batches(self.n, self.take, self.start, self.steps, self.seed, torch.device("cpu")):
            yield from idx.tolist()


class _Indexed(Dataset):
    """Map-style view of the uint8 tensor for the DataLoader path."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


class _Stack:
    """Collate per_step * batch images into [per_step, batch, C, H, W] uint8 (picklable for workers)."""

    def __init__(self, per_step: int) -> None:
        self.per_step = per_step

    def __call__(self, items: Sequence[Tensor]) -> Tensor:
        stacked = torch.stack(list(items))
        return stacked.view(self.per_step, -1, *stacked.shape[1:])


def file_signature(paths: Sequence[Path], settings: Dict[str, Any]) -> str:
    """Names, sizes and modification times of the source files plus the decoding settings."""
    parts = [repr(sorted(settings.items()))]
    for path in paths:
        stat = path.stat()
        parts.append(f"{path}|{stat.st_size}|{stat.st_mtime_ns}")
    return "\n".join(parts)
