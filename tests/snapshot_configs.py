"""The composed config of every experiment and of every point of every sweep template, as a snapshot that
tests/test_config_snapshot.py compares later spellings with, key for key.

    python -m tests.snapshot_configs            # rewrites tests/fixtures/composed_configs.json

Each entry is the resolved task config (everything but the `hydra` node, as Hydra hands it to the task) plus the
resolved `hydra.launcher` node, composed with a fixed run folder and fixed cache variables so that paths do not
depend on the machine. A template's grid is expanded as Hydra's basic sweeper does (gansweep.grid.expand),
with its seed axis cut to the first seed (a seed changes `seed` only).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

from omegaconf import OmegaConf, open_dict

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "composed_configs.json"
RUN_DIR = Path("/RUN_DIR")  # every composition's hydra.runtime.output_dir
FIXED_ENV = {"XDG_CACHE_HOME": "/XDG_CACHE_HOME"}  # read by the cache_dir keys (oc.env)


@contextlib.contextmanager
def fixed_env() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in FIXED_ENV}
    os.environ.update(FIXED_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def composed(overrides: Sequence[str], multirun: bool = False, num: int = 0) -> Dict[str, Any]:
    """{"config": the resolved task config, "launcher": the resolved hydra.launcher} of `gansweep OVERRIDES`."""
    from tests.conftest import compose_point

    with fixed_env():
        cfg = compose_point(overrides, RUN_DIR, multirun=multirun, num=num)
        launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True, enum_to_str=True)
        with open_dict(cfg):
            del cfg["hydra"]
        task = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    return {"config": task, "launcher": launcher}


def template_points(template: str, extra: Sequence[str] = ()) -> List[List[str]]:
    """Every point's overrides of `gansweep -m +sweep=TEMPLATE EXTRA...` as Hydra's basic sweeper launches them
    (template params first, then the command line), the seed axis cut to the grid's first seed."""
    from hydra.core.hydra_config import HydraConfig

    from gansweep.grid import expand

    overrides = [f"+sweep={template}", *extra]
    composed(overrides, multirun=True)  # sets HydraConfig
    params = dict(HydraConfig.get().sweeper.params or {})
    points = expand([*(f"{key}={value}" for key, value in params.items()), *overrides]).points
    seeds = [dict(o.split("=", 1) for o in point).get("seed") for point in points]
    return [point for point, seed in zip(points, seeds, strict=True) if seed == seeds[0]]


def template_snapshot(template: str, extra: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """{"overrides", "config", "launcher"} of every point of a template (seed cut to the first), in job order."""
    return [
        {"overrides": point, **composed(point, multirun=True, num=num)}
        for num, point in enumerate(template_points(template, extra))
    ]


def capture() -> Dict[str, Any]:
    from gansweep.paths import conf_dir, templates_dir

    experiments = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
    templates = sorted(path.stem for path in templates_dir().glob("*.yaml"))
    return {
        "experiments": {name: composed([f"experiment={name}"]) for name in experiments},
        "templates": {name: template_snapshot(name) for name in templates},
    }


def main() -> None:
    snapshot = capture()
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(snapshot, sort_keys=True, separators=(",", ":")) + "\n")
    points = sum(len(points) for points in snapshot["templates"].values())
    print(f"{FIXTURE}: {len(snapshot['experiments'])} experiments, {points} template points", file=sys.stderr)


if __name__ == "__main__":
    main()
