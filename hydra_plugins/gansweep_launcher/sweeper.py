"""`hydra/sweeper=gansweep`: Hydra's basic sweeper (the cartesian grid of the overrides, in batches) that, under
gansweep's launcher, leaves composing and checking each point to the launcher, which does it as the point is needed
and records a point whose config fails without taking the sweep down (Hydra's validates every point of a batch
before the first starts: minutes for thousands of points, and one bad value stops them all). With `points` (a file
gansweep-resume writes), it runs exactly those points, each with its job number and overrides: how a sweep another
sweeper chose (Optuna's) is resumed."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class GansweepSweeper(BasicSweeper):
    def __init__(
        self,
        max_batch_size: Optional[int] = None,
        params: Optional[Dict[str, str]] = None,
        points: Optional[str] = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.points = points

    def sweep(self, arguments: List[str]) -> Any:
        if self.points is None:
            return super().sweep(arguments)
        from omegaconf import OmegaConf

        assert self.launcher is not None
        points = OmegaConf.to_container(OmegaConf.load(self.points).points)
        assert isinstance(points, list)
        returns = []
        run: List[Any] = []
        for point in [*points, None]:  # a batch per run of consecutive job numbers: each point its own folder
            if run and (point is None or point["num"] != run[-1]["num"] + 1):
                returns.append(self.launcher.launch([p["overrides"] for p in run], initial_job_idx=run[0]["num"]))
                run = []
            if point is not None:
                run.append(point)
        return returns

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        from .launcher import GansweepLauncher

        if not isinstance(self.launcher, GansweepLauncher):  # another launcher composes nothing before it starts
            super().validate_batch_is_legal(batch)
