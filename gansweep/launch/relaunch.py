"""`gansweep-resume DIR`: the command that started the sweep in DIR, read back from DIR/multirun.yaml (Hydra's basic
sweeper saves it there), else DIR/.gansweep/multirun.yaml (gansweep's claim saves it for any sweeper), else a point's
own .hydra/hydra.yaml; its `--config-dir` too, from the config sources it records. It runs again on the same folder:
a grid gives the same job numbers, so each point finds its own folder, where the task skips, resumes or trains it
(gansweep.run.plan); hydra/sweeper=adaptive continues its study the same way. A sweep whose sweeper chose its points
(Optuna's, Nevergrad, Ax: running the command again would start another study) is resumed point by point instead:
the points its folders hold, each with its own overrides (`hydra/sweeper=gansweep hydra.sweeper.points=FILE`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

from gansweep.grid import CONTINUING_SWEEPERS, MULTIRUN_FILE

POINTS_FILE = Path(".gansweep") / "points.yaml"  # a non-grid sweep's points, for hydra.sweeper.points
_PLAIN = re.compile(r"^[\w/.\-~]+$")  # a value Hydra's override grammar takes unquoted
_REPLACED = ("hydra.sweep.dir", "hydra.mode")  # set anew: the folder given, and -m


def resume_command(sweep_dir: Path, extra: Sequence[str] = ()) -> Tuple[List[str], Optional[Path]]:
    """`gansweep` arguments that re-run the sweep saved in sweep_dir (plus `extra` overrides, e.g.
    resume.failed=rerun), and the folder it was launched from (relative paths in its overrides start there)."""
    sweep_dir = Path(sweep_dir).resolve()
    hydra, from_point = _saved_hydra(sweep_dir)
    overrides = OmegaConf.to_container(hydra.overrides, resolve=False)  # as typed: ${...} stays for Hydra to resolve
    assert isinstance(overrides, dict)
    launcher = [o for o in overrides["hydra"] if o.split("=", 1)[0].lstrip("+~") not in _REPLACED]
    target = str(OmegaConf.select(hydra, "sweeper._target_", default="") or "")
    if from_point or (target and not target.endswith(CONTINUING_SWEEPERS)):  # its points, not its search, run again
        launcher = [o for o in launcher if not _sweeper_choice(o)]
        launcher += ["hydra/sweeper=gansweep", f"hydra.sweeper.points={_quoted(str(_write_points(sweep_dir)))}"]
    cwd = OmegaConf.select(hydra, "runtime.cwd", throw_on_resolution_failure=False)
    sources = OmegaConf.select(hydra, "runtime.config_sources", default=None) or []
    config_dirs = [f"--config-dir={s.path}" for s in sources if s.provider == "command-line" and s.schema == "file"]
    args = [*config_dirs, "-m", *launcher, f"hydra.sweep.dir={_quoted(str(sweep_dir))}", *overrides["task"], *extra]
    return args, Path(cwd) if cwd else None


def _saved_hydra(sweep_dir: Path) -> Tuple[DictConfig, bool]:
    """The sweep's hydra node: multirun.yaml, the claim's copy, or (a sweep neither wrote) its first point's; and
    whether it is a point's (then the points run again one by one, each with its own overrides)."""
    for saved in (sweep_dir / MULTIRUN_FILE, sweep_dir / ".gansweep" / MULTIRUN_FILE):
        if saved.is_file():
            return OmegaConf.load(saved).hydra, False
    points = _point_files(sweep_dir)
    if points:
        hydra = OmegaConf.load(points[0][1]).hydra
        hydra.overrides.task = []  # that point's own values; each point's come from its folder
        return hydra, True
    raise FileNotFoundError(
        f"{sweep_dir} holds no sweep (no {MULTIRUN_FILE}, and no point's .hydra/): gansweep-resume takes the folder "
        "of a sweep (`gansweep -m ...`, its hydra.sweep.dir); a single run resumes with its own command and "
        "hydra.run.dir=DIR"
    )


def _point_files(sweep_dir: Path) -> List[Tuple[int, Path]]:
    """(job number, .hydra/hydra.yaml) of every point folder under the sweep, whatever its subdir, in job order."""
    found = []
    for path in sweep_dir.rglob(".hydra/hydra.yaml"):
        num = OmegaConf.select(OmegaConf.load(path), "hydra.job.num", default=None)
        if isinstance(num, int):
            found.append((num, path))
    return sorted(found)


def _sweeper_choice(override: str) -> bool:
    """An override that chooses or sets the sweeper (not its params, which say what a point is)."""
    key = override.split("=", 1)[0].lstrip("+~")
    return key.startswith("hydra/sweeper") or (
        key.startswith("hydra.sweeper.") and not key.startswith("hydra.sweeper.params")
    )


def _write_points(sweep_dir: Path) -> Path:
    """Every point folder's job number and overrides (its .hydra/), in job order, for the sweeper; none found is an
    error (a resume that would do nothing)."""
    points = []
    for num, path in _point_files(sweep_dir):
        overrides = OmegaConf.to_container(OmegaConf.load(path.with_name("overrides.yaml")))
        points.append({"num": num, "overrides": overrides})
    if not points:
        raise FileNotFoundError(f"{sweep_dir} holds no point that started (no .hydra/ folder): nothing to resume")
    target = sweep_dir / POINTS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({"points": points}), target)
    return target


def _quoted(value: str) -> str:
    """A path as a Hydra override value: quoted when it holds characters the grammar reads (commas, spaces, =)."""
    return value if _PLAIN.match(value) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
