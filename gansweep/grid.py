"""A sweep's grid read back from its folder: which keys it sweeps and every point it holds, done or not.

Hydra saves the launching config as DIR/multirun.yaml: the command line's overrides (`seed=0,1`) and the template's
`hydra.sweeper.params`. Parsed with Hydra's own grammar and expanded as its basic sweeper does, they give each job's
overrides in job order, so a point can name itself by its swept values and a report can list the points that have
not written metrics.json yet, with any launcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from omegaconf import OmegaConf

MULTIRUN_FILE = "multirun.yaml"
GRID_SWEEPERS = ("BasicSweeper", "GansweepSweeper")  # sweepers whose points are the cartesian grid of the overrides
CONTINUING_SWEEPERS = (*GRID_SWEEPERS, "AdaptiveSweeper")  # the same command continues their sweep (gansweep-resume)
# overrides that steer how a point runs, not which point it is: they may change between attempts
EXECUTION_KEYS = ("resume.", "train.checkpoint_every", "search.")  # search.*: an adaptive sweep's trial bookkeeping


@dataclass(frozen=True)
class Grid:
    swept: List[str]  # keys with more than one value, in the sweeper's order (template params, then command line)
    points: List[List[str]]  # each job's overrides, in job order (job i is point i)


def read_grid(sweep_dir: Path) -> Optional[Grid]:
    """The grid saved in sweep_dir/multirun.yaml; None when there is no such file, or the sweeper is not Hydra's
    basic one (an optimiser chooses its points as it goes: there is no grid to read back)."""
    saved = Path(sweep_dir) / MULTIRUN_FILE
    if not saved.is_file():
        return None
    hydra = OmegaConf.load(saved).hydra
    if not str(OmegaConf.select(hydra, "sweeper._target_", default="")).endswith(GRID_SWEEPERS):
        return None
    return expand(sweep_arguments(hydra))


def sweep_arguments(hydra: object) -> List[str]:
    """What a sweep's `hydra` node sweeps: the template's hydra.sweeper.params, then the command line's overrides."""
    params = OmegaConf.select(hydra, "sweeper.params", default=None) or {}  # type: ignore[arg-type]
    arguments = [f"{key}={value}" for key, value in params.items()]
    task = OmegaConf.to_container(hydra.overrides.task, resolve=False)  # type: ignore[attr-defined]
    arguments += [str(o) for o in task]  # type: ignore[union-attr]
    return arguments


def expand(arguments: List[str]) -> Grid:
    """Hydra's basic sweeper on `arguments` (template params first, then the command line): the swept keys and the
    cartesian product of every key's values, as launched (a later override of the same key replaces the earlier)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(arguments)
    swept = list(dict.fromkeys(o.get_key_element() for o in overrides if o.is_sweep_override()))
    final = {o.get_key_element(): o for o in overrides}  # the last of a key wins, as in split_arguments
    swept = [key for key in swept if final[key].is_sweep_override()]
    (points,) = BasicSweeper.split_arguments(overrides, None)
    return Grid(swept, points)


def swept_values(overrides: Sequence[str], swept: Sequence[str]) -> List[str]:
    """The `key=value` overrides of a point whose key is swept, in the grid's order of keys."""
    by_key = parse_overrides(overrides)
    return [f"{key}={by_key[key]}" for key in swept if key in by_key]


def parse_overrides(overrides: Sequence[str]) -> Dict[str, str]:
    """`key=value` overrides as {key: value}, keys as written (with Hydra's +/~ prefixes); a bare key maps to ""."""
    return dict(override.partition("=")[::2] for override in overrides)


def varying_keys(points: Sequence[Dict[str, str]]) -> List[str]:
    """The keys (of parsed overrides) whose value differs between points, in order of first appearance."""
    every_key = dict.fromkeys(key for point in points for key in point)
    return [key for key in every_key if len({point.get(key) for point in points}) > 1]


def point_overrides(overrides: Sequence[str]) -> List[str]:
    """The overrides that identify a grid point: all but the execution keys (resume.*, train.checkpoint_every,
    search.*)."""
    return [o for o in overrides if not o.lstrip("~+").split("=", 1)[0].startswith(EXECUTION_KEYS)]


def varying_overrides(overrides: Sequence[Sequence[str]]) -> List[str]:
    """Each point's overrides as one string, keeping only the keys whose value differs between points (the axes);
    the execution keys are not a point's axes (an adaptive sweep's trial numbers included)."""
    parsed = [parse_overrides(point_overrides(point)) for point in overrides]
    keys = varying_keys(parsed) if len(parsed) > 1 else list(parsed[0]) if parsed else []
    return [" ".join(f"{k}={p[k]}" for k in keys if k in p) for p in parsed]
