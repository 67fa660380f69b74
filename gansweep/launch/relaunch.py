"""`gansweep-resume DIR`: the command that started the sweep in DIR, read back from DIR/multirun.yaml (Hydra's basic
sweeper saves it there), else DIR/.gansweep/multirun.yaml (gansweep's claim saves it for any sweeper), else a point's
own .hydra/hydra.yaml; its `--config-dir` too, from the config sources it records. It runs again on the same folder:
a grid gives the same job numbers, so each point finds its own folder, where the task skips, resumes or trains it
(gansweep.run.plan). A sweep whose sweeper chose its points (Optuna, Nevergrad, Ax: running the command again would
start another study) is resumed point by point instead: the points its folders hold, each with its own overrides
(`hydra/sweeper=gansweep hydra.sweeper.points=FILE`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

from gansweep.grid import GRID_SWEEPERS, MULTIRUN_FILE
from gansweep.record import natural_key

POINTS_FILE = Path(".gansweep") / "points.yaml"  # a non-grid sweep's points, for hydra.sweeper.points
_PLAIN = re.compile(r"^[\w/.\-~]+$")  # a value Hydra's override grammar takes unquoted
_REPLACED = ("hydra.sweep.dir", "hydra.mode")  # set anew: the folder given, and -m


def resume_command(sweep_dir: Path, extra: Sequence[str] = ()) -> Tuple[List[str], Optional[Path]]:
    """`gansweep` arguments that re-run the sweep saved in sweep_dir (plus `extra` overrides, e.g.
    resume.failed=rerun), and the folder it was launched from (relative paths in its overrides start there)."""
    sweep_dir = Path(sweep_dir).resolve()
    hydra = _saved_hydra(sweep_dir)
    overrides = OmegaConf.to_container(hydra.overrides, resolve=False)  # as typed: ${...} stays for Hydra to resolve
    assert isinstance(overrides, dict)
    launcher = [o for o in overrides["hydra"] if o.split("=", 1)[0].lstrip("+~") not in _REPLACED]
    if not str(OmegaConf.select(hydra, "sweeper._target_", default="")).endswith(GRID_SWEEPERS):
        launcher = [o for o in launcher if not _sweeper_choice(o)]  # its points, not its search, run again
        launcher += ["hydra/sweeper=gansweep", f"hydra.sweeper.points={_quoted(str(_write_points(sweep_dir)))}"]
    cwd = OmegaConf.select(hydra, "runtime.cwd", throw_on_resolution_failure=False)
    sources = OmegaConf.select(hydra, "runtime.config_sources", default=None) or []
    config_dirs = [f"--config-dir={s.path}" for s in sources if s.provider == "command-line" and s.schema == "file"]
    args = [*config_dirs, "-m", *launcher, f"hydra.sweep.dir={_quoted(str(sweep_dir))}", *overrides["task"], *extra]
    return args, Path(cwd) if cwd else None


def _saved_hydra(sweep_dir: Path) -> DictConfig:
    """The sweep's hydra node: multirun.yaml, the claim's copy, or (a sweep neither wrote) its first point's."""
    for saved in (sweep_dir / MULTIRUN_FILE, sweep_dir / ".gansweep" / MULTIRUN_FILE):
        if saved.is_file():
            return OmegaConf.load(saved).hydra
    points = sorted(sweep_dir.glob("*/.hydra/hydra.yaml"), key=lambda p: natural_key(p.parent.parent.name))
    if points:
        hydra = OmegaConf.load(points[0]).hydra
        hydra.overrides.task = []  # that point's own values; each point's come from its folder
        return hydra
    raise FileNotFoundError(
        f"{sweep_dir} holds no sweep (no {MULTIRUN_FILE}, and no point's .hydra/): gansweep-resume takes the folder "
        "of a sweep (`gansweep -m ...`, its hydra.sweep.dir); a single run resumes with its own command and "
        "hydra.run.dir=DIR"
    )


def _sweeper_choice(override: str) -> bool:
    """An override that chooses or sets the sweeper (not its params, which say what a point is)."""
    key = override.split("=", 1)[0].lstrip("+~")
    return key.startswith("hydra/sweeper") or (
        key.startswith("hydra.sweeper.") and not key.startswith("hydra.sweeper.params")
    )


def _write_points(sweep_dir: Path) -> Path:
    """Every point folder's job number and overrides (its .hydra/overrides.yaml), in job order, for the sweeper."""
    points = []
    for path in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"), key=lambda p: natural_key(p.parent.parent.name)):
        name = path.parent.parent.name
        if name.isdigit():
            points.append({"num": int(name), "overrides": OmegaConf.to_container(OmegaConf.load(path))})
    target = sweep_dir / POINTS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({"points": points}), target)
    return target


def _quoted(value: str) -> str:
    """A path as a Hydra override value: quoted when it holds characters the grammar reads (commas, spaces, =)."""
    return value if _PLAIN.match(value) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
