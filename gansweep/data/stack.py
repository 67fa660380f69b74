"""The points' data modules as one: item i of a model's K >= 1 points is every point's own item i stacked on a point
dim, so each point reads exactly the real batches it reads alone (its own seed, order and transforms)."""

from __future__ import annotations

from collections import deque
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Sequence

import pytorch_lightning as pl
import torch
from torch import Tensor


class StackedBatches:
    """Zips the points' iterables of [per_step, N, ...] items into [per_step, K, N, ...] (one point: a view of its
    item, no copy, pinned memory kept)."""

    def __init__(self, per_point: Sequence[Iterable[Tensor]]) -> None:
        self.per_point = list(per_point)

    def __len__(self) -> int:
        return min(len(items) for items in self.per_point)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Tensor]:
        if len(self.per_point) == 1:
            yield from (item.unsqueeze(1) for item in self.per_point[0])
            return
        for items in zip(*self.per_point, strict=True):  # every point has as many items
            yield torch.stack(items, dim=1)


class OpenBatches:
    """StackedBatches for a fit whose slots may take new points (an adaptive sweep's refilled group): it never ends by
    itself (the fit stops when no point trains), a slot whose items ran out gets a copy of a live slot's (its run is
    over: the slot is routed out), and a slot's iterable can be replaced mid-fit. Lightning fetches a batch ahead, so
    an item made before its slot was replaced is taken again from the new iterable when the batch reaches the device
    (`renew`, called by StackedData.on_after_batch_transfer)."""

    def __init__(self, per_point: Sequence[Iterable[Tensor]]) -> None:
        self.iterators: List[Optional[Iterator[Tensor]]] = [iter(items) for items in per_point]
        self.generation = [0] * len(self.iterators)
        self.made: Deque[List[int]] = deque()  # the slots' generations of each batch handed out, not yet transferred
        self.pending: Dict[int, Deque[Tensor]] = {}  # a replaced slot's first items, for the batches made before
        self.last: Optional[Tensor] = None

    def __iter__(self) -> Iterator[Tensor]:
        while True:
            items = [self._next(k) for k in range(len(self.iterators))]
            live = next((item for item in items if item is not None), self.last)
            if live is None:
                raise ValueError("no point of the group has a real batch to start from")
            self.last = live
            self.made.append(list(self.generation))
            yield torch.stack([live if item is None else item for item in items], dim=1)

    def _next(self, k: int) -> Optional[Tensor]:
        iterator = self.iterators[k]
        if iterator is None:
            return None
        try:
            return next(iterator)
        except StopIteration:
            self.iterators[k] = None
            return None

    def replace(self, k: int, items: Iterable[Tensor]) -> None:
        """Slot k reads `items` from its next batch on: the batches handed out already take its first items when
        they reach the device (renew), those made from now on the items after them."""
        iterator = iter(items)
        self.pending[k] = deque(next(iterator) for _ in self.made)
        self.iterators[k] = iterator
        self.generation[k] += 1

    def renew(self, batch: Tensor) -> Tensor:
        """`batch` (the oldest handed out, on its device) with each slot replaced since it was made given its new
        data's item."""
        made = self.made.popleft() if self.made else self.generation
        for k, generation in enumerate(made):
            if generation != self.generation[k]:
                batch[:, k] = self.pending[k].popleft().to(batch.device, non_blocking=True)
        return batch


class StackedData(pl.LightningDataModule):
    """K >= 1 data modules of one dataset (one per point, each built with its point's seed) behind one
    LightningDataModule; each keeps its own state (setup, trainer, device), as it would alone."""

    def __init__(self, points: Sequence[pl.LightningDataModule]) -> None:
        super().__init__()
        if not points:
            raise ValueError("a stacked data module needs at least one point's")
        self.points: List[Any] = list(points)
        shapes = {tuple(point.data_shape) for point in self.points}
        if len(shapes) != 1:
            raise ValueError(f"the points of a fused group read data of different shapes {sorted(shapes)}")
        self.data_shape = self.points[0].data_shape
        self.open_ended = False  # a refilled group's: OpenBatches, slots replaceable (gansweep.callbacks.refill)
        self.batches: Optional[OpenBatches] = None

    @property
    def channels_last(self) -> bool:
        return all(getattr(point, "channels_last", False) for point in self.points)

    @channels_last.setter
    def channels_last(self, value: bool) -> None:  # train.channels_last (gansweep.callbacks.device), per point
        for point in self.points:
            point.channels_last = value

    def configure_batches(self, batch_size: int, per_step: int, steps: int, start: int = 0) -> None:
        for point in self.points:
            point.configure_batches(batch_size, per_step, steps, start=start)

    def prepare_data(self) -> None:
        for point in self.points:
            point.prepare_data()

    def setup(self, stage: Optional[str] = None) -> None:
        for point in self.points:
            point.trainer = self.trainer  # where batches are drawn (gansweep.data.base.training_device)
            point.setup(stage)

    def train_dataloader(self) -> Iterable[Tensor]:
        if self.open_ended:
            self.batches = OpenBatches([point.train_dataloader() for point in self.points])
            return self.batches
        return StackedBatches([point.train_dataloader() for point in self.points])

    def replace(self, k: int, point: Any, batch_size: int, per_step: int, steps: int) -> None:
        """Slot k's data becomes `point`'s (a new point's data module, set up as the fit set up the others), from
        its item 0, `steps` items of `per_step` batches."""
        if self.batches is None:
            raise ValueError("only an open-ended fit's slots take new data (StackedData.open_ended)")
        if tuple(point.data_shape) != tuple(self.data_shape):
            raise ValueError(f"a new point reads data of shape {point.data_shape}, its group {self.data_shape}")
        point.configure_batches(batch_size, per_step, steps, start=0)
        point.prepare_data()
        point.trainer = self.trainer
        point.setup("fit")
        if hasattr(self.points[k], "channels_last"):  # as train.channels_last set the others (callbacks.device)
            point.channels_last = self.points[k].channels_last
        self.points[k] = point
        self.batches.replace(k, point.train_dataloader())

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Each point's own post-transfer step (image scaling, channels-last) on its slice."""
        if self.batches is not None:
            batch = self.batches.renew(batch)
        if not any(_overrides(point, "on_after_batch_transfer") for point in self.points):
            return batch
        slices = [
            point.on_after_batch_transfer(part, dataloader_idx)
            for point, part in zip(self.points, batch.unbind(1), strict=True)
        ]
        return torch.stack(slices, dim=1)


def _overrides(module: Any, hook: str) -> bool:
    return getattr(type(module), hook) is not getattr(pl.LightningDataModule, hook)
