"""`hydra/sweeper=gansweep`: Hydra's basic sweeper (the cartesian grid of the overrides, in batches) that first takes
the sweep folder for its sweep (gansweep.launch.owner: a live sweep or another sweep's points there refuse it before
multirun.yaml is written) and, under gansweep's launcher, leaves composing and checking each point to the launcher,
which does it as the point is needed and records a point whose config fails without taking the sweep down."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class GansweepSweeper(BasicSweeper):
    def sweep(self, arguments: List[str]) -> Any:
        from gansweep.hydra_job import stop_with
        from gansweep.launch.owner import SweepRefused, claim_sweep

        assert self.config is not None
        try:
            claim_sweep(Path(str(self.config.hydra.sweep.dir)), self.config)
        except SweepRefused as err:
            stop_with(str(err), err)
        return super().sweep(arguments)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        from .launcher import GansweepLauncher

        if not isinstance(self.launcher, GansweepLauncher):  # another launcher composes nothing before it starts
            super().validate_batch_is_legal(batch)
