"""A sweep's points, finished or not: every metrics.json record, and the grid points (from multirun.yaml) or started
run folders that have none yet (pending), matched by their overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from omegaconf import OmegaConf

from gansweep.grid import MULTIRUN_FILE, Grid, parse_overrides, point_overrides
from gansweep.grid import varying_keys as varying_keys_of
from gansweep.record import METRICS_FILE, natural_key, read_records

PENDING = "pending"
DEFAULT_SUBDIR = "${hydra.job.num}"


@dataclass
class Point:
    """One grid point: finished (with its metrics.json record) or pending (no record yet)."""

    run: str  # its folder relative to the sweep folder; "" for a pending point with no folder yet
    overrides: List[str]
    status: str  # ok | diverged | failed | interrupted | pending
    record: Optional[Dict[str, Any]] = None  # None while pending
    values: Dict[str, str] = field(default_factory=dict)  # the point's value of each varying key
    curve: List[Tuple[int, float]] = field(default_factory=list)  # an ok point's evaluations of the metric, by step

    @property
    def error(self) -> Optional[str]:
        return None if self.record is None else self.record.get("error")

    @property
    def label(self) -> str:
        """The run folder when there is one, else the point's varying overrides."""
        return self.run or " ".join(f"{k}={v}" for k, v in self.values.items()) or " ".join(self.overrides)


def collect_points(sweep_dir: Path, grid: Optional[Grid]) -> List[Point]:
    """Every record, plus the grid points (or, with no grid, the started run folders) that have none yet."""
    records = read_records(sweep_dir)
    points = [Point(rec["run"], list(rec.get("overrides") or []), str(rec.get("status", "?")), rec) for rec in records]
    started = _started_folders(sweep_dir)
    if grid is None:
        return points + [Point(run, overrides, PENDING) for run, overrides in started]
    by_overrides: Dict[Tuple[str, ...], List[Point]] = {}
    for point in points:
        by_overrides.setdefault(_identity(point.overrides), []).append(point)
    folders = {_identity(overrides): run for run, overrides in started}
    job_folders = _subdir_is_job_number(sweep_dir)
    ordered: List[Point] = []
    for job, overrides in enumerate(grid.points):
        matched = by_overrides.pop(_identity(overrides), [])
        if matched:
            ordered += matched
            continue
        run = folders.get(_identity(overrides), "")
        if not run and job_folders and (sweep_dir / str(job)).is_dir():
            run = str(job)
        ordered.append(Point(run, list(overrides), PENDING))
    leftover = {id(p) for group in by_overrides.values() for p in group}
    return ordered + [p for p in points if id(p) in leftover]  # records of no grid point: kept, in folder order


def _identity(overrides: Sequence[str]) -> Tuple[str, ...]:
    """What names a grid point: its overrides without the execution keys a resume may add (resume.*)."""
    return tuple(point_overrides(list(overrides)))


def _started_folders(sweep_dir: Path) -> List[Tuple[str, List[str]]]:
    """Run folders Hydra has set up (.hydra/overrides.yaml) that hold no metrics.json yet: started, not finished."""
    found = []
    for saved in sorted(sweep_dir.rglob("overrides.yaml")):
        run_dir = saved.parent.parent
        if saved.parent.name != ".hydra" or run_dir == sweep_dir or (run_dir / METRICS_FILE).is_file():
            continue
        overrides = OmegaConf.to_container(OmegaConf.load(saved))
        if isinstance(overrides, list):
            found.append((str(run_dir.relative_to(sweep_dir)), [str(o) for o in overrides]))
    return sorted(found, key=lambda item: natural_key(item[0]))


def _subdir_is_job_number(sweep_dir: Path) -> bool:
    """Whether multirun.yaml keeps Hydra's default run folder, the job number (job i runs in sweep_dir/i)."""
    sweep = OmegaConf.to_container(OmegaConf.load(sweep_dir / MULTIRUN_FILE).hydra.sweep, resolve=False)
    return isinstance(sweep, dict) and str(sweep.get("subdir", DEFAULT_SUBDIR)) == DEFAULT_SUBDIR


def varying_keys(points: Sequence[Point], grid: Optional[Grid]) -> List[str]:
    """The keys whose value differs between points: the grid's swept keys, else computed from the overrides."""
    if grid is not None:
        return list(grid.swept)
    return varying_keys_of([parse_overrides(point_overrides(p.overrides)) for p in points])
