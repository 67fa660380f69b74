"""debug=smoke over every experiment (conf/experiment/) and every sweep template (multirun_templates/), found by
listing the folders: each composes to smoke's sizes (every template at the corners of its grid), and, marked slow,
every experiment and every point of each template's first grid axis trains on gansweep's run path (in this process,
fused as the launcher fuses them) into a complete run folder; tests/test_cli.py runs a template through the launcher
from the shell. Image experiments read tiny datasets written in their real formats (tests/fake_data.py)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from gansweep.grid import expand
from gansweep.paths import conf_dir, templates_dir
from gansweep.run.fusion import group_points
from gansweep.run.group import train_group
from tests.conftest import compose_config, compose_point
from tests.fake_data import write_dataset_root

SMOKE = OmegaConf.load(conf_dir() / "debug" / "smoke.yaml")
PINS: Dict[str, Any] = dict(SMOKE.hydra.sweeper.params)  # the cost keys smoke also gives every point of a multirun
EXPERIMENTS = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
TEMPLATES = sorted(path.stem for path in templates_dir().glob("*.yaml"))
RUN_FILES = ("config.yaml", "metrics.json", "checkpoints/last.ckpt", "samples.png", "logs/metrics.csv")
CI_SIZED = {"dataset.size": 1000, "dataset.max_images": 1000, "arch.dim": 32}  # upper bounds where a key exists


@functools.lru_cache(maxsize=None)
def composed(*overrides: str) -> Tuple[DictConfig, Dict[str, Any], Dict[str, Any], DictConfig]:
    """Task config, group choices, sweeper params and hydra node of `gansweep -m OVERRIDES` (cached: a composition
    takes ~0.2 s)."""
    cfg = compose_config(overrides, multirun=True)
    hydra_cfg = HydraConfig.get()
    return cfg, dict(hydra_cfg.runtime.choices), dict(hydra_cfg.sweeper.params or {}), hydra_cfg


def sweep_points(overrides: Sequence[str]) -> List[List[str]]:
    """The overrides of every point of `gansweep -m OVERRIDES`, expanded from the params and the command line as
    Hydra's basic sweeper does."""
    params = composed(*overrides)[2]
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + list(overrides))
    return [point for batch in BasicSweeper.split_arguments(parsed, None) for point in batch]


def swept_cost_keys(template: str) -> List[str]:
    """KEY=VALUE for each smoke cost key the template's grid sweeps (its grid would win): what a group's CI adds."""
    params = composed(f"+sweep={template}", "debug=smoke")[2]
    return [f"{key}={value}" for key, value in PINS.items() if str(params.get(key)) != str(value)]


def assert_smoke_sized(cfg: DictConfig, choices: Dict[str, Any], pinned_only: bool = False) -> None:
    """smoke's train/metrics values (only those it pins, under a template), its logger, and CI-sized data and nets."""
    expected = PINS if pinned_only else {f"{g}.{k}": v for g in ("train", "metrics") for k, v in SMOKE[g].items()}
    for key, value in expected.items():
        assert OmegaConf.select(cfg, key) == value, key
    assert choices["logger"] == "csv"  # never an uploading logger
    for key, bound in CI_SIZED.items():
        value = OmegaConf.select(cfg, key, default=0)
        assert value is not None and value <= bound, f"{key}={value} under debug=smoke ({choices[key.split('.')[0]]})"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_smoke_composes_over_every_experiment(experiment: str) -> None:
    cfg, choices, _, _ = composed(f"experiment={experiment}", "debug=smoke")
    assert choices["experiment"] == experiment and choices["debug"] == "smoke"
    assert_smoke_sized(cfg, choices)


@pytest.mark.parametrize("template", TEMPLATES)
def test_smoke_composes_at_the_corners_of_every_template(template: str) -> None:
    """The first and last points of the grid (every point gets the same smoke params; composing costs ~0.3 s)."""
    points = sweep_points([f"+sweep={template}", "debug=smoke", *swept_cost_keys(template)])
    for point in {tuple(points[0]), tuple(points[-1])}:
        cfg, choices, _, _ = composed(*point)
        assert_smoke_sized(cfg, choices, pinned_only=True)


def test_smoke_beats_a_template_that_sets_the_budget() -> None:
    """quickstart sets train.iters and log_every itself, after debug in the composition: the sweep params win."""
    assert composed("+sweep=quickstart", "debug=smoke")[0].train.iters != SMOKE.train.iters  # why the pins exist
    cfg, _, _, _ = composed(*sweep_points(["+sweep=quickstart", "debug=smoke"])[0])
    assert (cfg.train.iters, cfg.train.log_every) == (SMOKE.train.iters, SMOKE.train.log_every)


def assert_complete_run(run_dir: Path) -> Dict[str, Any]:
    """A finished smoke point: status ok after smoke's iterations, and every file a run leaves."""
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "ok", record.get("traceback") or record.get("error")
    assert record["g_iters"] == SMOKE.train.iters
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    assert not missing, f"{run_dir} lacks {missing}"
    return record


def template_args(template: str) -> List[str]:
    """`gansweep -m +sweep=NAME debug=smoke` as a group's CI runs it (plus any swept cost axis pinned), its grid cut
    to the first axis: every other swept key at its first value (the full grids compose in the corners test; every
    experiment they name trains in the experiments' sweeps)."""
    base = ["-m", f"+sweep={template}", "debug=smoke", *swept_cost_keys(template)]
    return [*base, *first_axis_only(base[1:])]


def first_axis_only(overrides: Sequence[str]) -> List[str]:
    """KEY=FIRST for every swept key of `gansweep -m OVERRIDES` but the first (the grid as gansweep.grid reads
    it back: template params, then the command line)."""
    params = composed(*overrides)[2]
    grid = expand([*(f"{k}={v}" for k, v in params.items()), *overrides])
    first = dict(o.split("=", 1) for o in grid.points[0])
    return [f"{key}={first[key]}" for key in grid.swept[1:]]


def data_overrides(args: Sequence[str], data: Path, cache: Path) -> List[str]:
    """++dataset.root (tiny files of every source the points read, written here) when some point reads files (++:
    a sweep's base config, dataset=ring8, has no dataset.root; every point's image dataset has one)."""
    roots = [composed(*point)[0].dataset for point in sweep_points(args)]
    on_disk = [dataset for dataset in roots if "root" in dataset]
    for dataset in on_disk:
        write_dataset_root(OmegaConf.to_container(dataset), data, n=2 * SMOKE.train.batch_size)
    return [f"++dataset.root={data}", f"++dataset.cache_dir={cache}"] if on_disk else []


def train_points(points: Sequence[Sequence[str]], out: Path, fuse: int = 1) -> List[Path]:
    """Each point of a multirun (its overrides) composed as the launcher composes it and trained in this process on
    gansweep's run path, in the groups the launcher would fuse; their run folders."""
    configs = [compose_point(list(point), out / str(i), multirun=True, num=i) for i, point in enumerate(points)]
    for group in group_points(configs, fuse):
        train_group([configs[i] for i in group])
    return [out / str(i) for i in range(len(points))]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_trains_under_smoke(experiment: str, tmp_path: Path) -> None:
    args = [f"experiment={experiment}", "debug=smoke"]
    (run,) = train_points([[*args, *data_overrides(args, tmp_path / "data", tmp_path / "cache")]], tmp_path)
    assert assert_complete_run(run)["choices"]["experiment"] == experiment


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_trains_under_smoke_on_its_first_axis(template: str, tmp_path: Path) -> None:
    """The template's first grid axis under debug=smoke, every point trained (fused where the template fuses)."""
    args = template_args(template)[1:]
    data = data_overrides(args, tmp_path / "data", tmp_path / "cache")
    points = [[*point, *data] for point in sweep_points(args)]
    fuse = OmegaConf.select(composed(*args)[3], "launcher.fuse", default=1)
    runs = train_points(points, tmp_path / "sweep", fuse)
    assert len(runs) >= 2
    for run in runs:
        assert_complete_run(run)
