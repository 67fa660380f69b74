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
        **others: Any,  # another sweeper's settings an experiment's YAML sets (a resumed Optuna study's): not used
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.points = points

    def sweep(self, arguments: List[str]) -> Any:
        if self.points is None:
            return super().sweep(arguments)
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from omegaconf import OmegaConf

        from gansweep.hydra_job import launch_numbered

        assert self.launcher is not None
        points = OmegaConf.to_container(OmegaConf.load(self.points).points)
        assert isinstance(points, list) and points
        # the command line's fixed overrides (resume.failed=rerun...) join each point's, where it has not the key
        parsed = OverridesParser.create().parse_overrides(arguments)
        fixed = [str(o.input_line) for o in parsed if not o.is_sweep_override()]
        jobs = [_joined(p["overrides"], fixed) for p in points]
        return launch_numbered(self.launcher, jobs, [int(p["num"]) for p in points])

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        from .launcher import GansweepLauncher

        if not isinstance(self.launcher, GansweepLauncher):  # another launcher composes nothing before it starts
            super().validate_batch_is_legal(batch)


def _joined(own: List[str], fixed: List[str]) -> List[str]:
    """A point's own overrides, then the fixed ones whose key it does not have."""
    keys = {_key(o) for o in own}
    return [*own, *(o for o in fixed if _key(o) not in keys)]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")
