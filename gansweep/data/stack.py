"""The points' data modules as one: item i of a model's K >= 1 points is every point's own item i stacked on a point
dim, so each point reads exactly the real batches it reads alone (its own seed, order and transforms)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, List, Optional, Sequence

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

    def train_dataloader(self) -> StackedBatches:
        return StackedBatches([point.train_dataloader() for point in self.points])

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Each point's own post-transfer step (image scaling, channels-last) on its slice."""
        if not any(_overrides(point, "on_after_batch_transfer") for point in self.points):
            return batch
        slices = [
            point.on_after_batch_transfer(part, dataloader_idx)
            for point, part in zip(self.points, batch.unbind(1), strict=True)
        ]
        return torch.stack(slices, dim=1)


def _overrides(module: Any, hook: str) -> bool:
    return getattr(type(module), hook) is not getattr(pl.LightningDataModule, hook)
