"""`gansweep-resume DIR`: the command that started the sweep in DIR, read back from DIR/multirun.yaml (Hydra saves
it there; its `--config-dir` too, from the config sources it records), run again on the same folder. The same grid
gives the same job numbers, so each point finds its own folder, where the task skips, resumes or trains it
(gansweep.run.plan)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from omegaconf import OmegaConf

_PLAIN = re.compile(r"^[\w/.\-~]+$")  # a value Hydra's override grammar takes unquoted
_REPLACED = ("hydra.sweep.dir", "hydra.mode")  # set anew: the folder given, and -m


def resume_command(sweep_dir: Path, extra: Sequence[str] = ()) -> Tuple[List[str], Optional[Path]]:
    """`gansweep` arguments that re-run the sweep saved in sweep_dir (plus `extra` overrides, e.g.
    resume.failed=rerun), and the folder it was launched from (relative paths in its overrides start there)."""
    sweep_dir = Path(sweep_dir).resolve()
    saved = sweep_dir / "multirun.yaml"
    if not saved.is_file():
        raise FileNotFoundError(
            f"{saved} not found: gansweep-resume takes the folder of a sweep (`gansweep -m ...`, its hydra.sweep.dir); "
            "a single run resumes with its own command and hydra.run.dir=DIR"
        )
    hydra = OmegaConf.load(saved).hydra
    overrides = OmegaConf.to_container(hydra.overrides, resolve=False)  # as typed: ${...} stays for Hydra to resolve
    assert isinstance(overrides, dict)
    launcher = [o for o in overrides["hydra"] if o.split("=", 1)[0].lstrip("+~") not in _REPLACED]
    cwd = OmegaConf.select(hydra, "runtime.cwd", throw_on_resolution_failure=False)
    sources = OmegaConf.select(hydra, "runtime.config_sources", default=None) or []
    config_dirs = [f"--config-dir={s.path}" for s in sources if s.provider == "command-line" and s.schema == "file"]
    args = [*config_dirs, "-m", *launcher, f"hydra.sweep.dir={_quoted(str(sweep_dir))}", *overrides["task"], *extra]
    return args, Path(cwd) if cwd else None


def _quoted(value: str) -> str:
    """A path as a Hydra override value: quoted when it holds characters the grammar reads (commas, spaces, =)."""
    return value if _PLAIN.match(value) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
