"""`hydra/sweeper=gansweep`: Hydra's basic sweeper (the cartesian grid of the overrides, in batches) that, under
gansweep's launcher, leaves composing and checking each point to the launcher, which does it as the point is needed
and records a point whose config fails without taking the sweep down (Hydra's validates every point of a batch
before the first starts: minutes for thousands of points, and one bad value stops them all)."""

from __future__ import annotations

from typing import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class GansweepSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        from .launcher import GansweepLauncher

        if not isinstance(self.launcher, GansweepLauncher):  # another launcher composes nothing before it starts
            super().validate_batch_is_legal(batch)
