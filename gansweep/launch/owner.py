"""One sweep per sweep folder: the sweep's process holds the folder (gansweep.lock) for as long as it runs, and the
folder remembers which sweep it holds (.gansweep/multirun.yaml, the first launching command's multirun.yaml), so a
different sweep sent into it is refused before it writes anything, and a refused command never leaves its
multirun.yaml in the folder (gansweep-resume DIR reads the sweep's own)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, List

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gansweep.grid import MULTIRUN_FILE, point_overrides, sweep_arguments
from gansweep.lock import FolderBusy, describe_holder, hold
from gansweep.record import METRICS_FILE

OWNER = Path(".gansweep") / MULTIRUN_FILE  # in the sweep folder: the multirun.yaml of the sweep it holds


class SweepRefused(Exception):
    """The sweep folder is held by a live sweep, or holds another sweep's points; nothing was written to it."""


def claim_sweep(sweep_dir: Path, config: DictConfig) -> None:
    """Hold sweep_dir for this process and check it holds this sweep's points (or none): called by the sweeper before
    it writes multirun.yaml and by the launcher before any point starts; again in the same process, it only checks."""
    sweep_dir = Path(sweep_dir).absolute()
    try:
        hold(sweep_dir, f"the sweep `{_command(config)}`")
    except FolderBusy as busy:
        raise SweepRefused(
            f"{sweep_dir} is being written by another sweep: {describe_holder(busy.holder)}. Wait for it to end, "
            "or give this sweep its own hydra.sweep.dir."
        ) from None
    owner = sweep_dir / OWNER
    saved = owner if owner.is_file() else sweep_dir / MULTIRUN_FILE  # an older gansweep's folder: its multirun.yaml
    if not (saved.is_file() and has_points(sweep_dir)):  # no point has run: the folder is this sweep's
        owner.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, owner)
        return
    before, now = _points(OmegaConf.load(saved)), _points(config)
    if before != now:
        raise SweepRefused(
            f"{sweep_dir} holds the points of another sweep ({' '.join(before) or 'no overrides'}); this command "
            f"sweeps {' '.join(now) or 'no overrides'}. Resume that sweep with `gansweep-resume {sweep_dir}` (or "
            "its own command), or give this one its own hydra.sweep.dir."
        )
    if not owner.is_file():
        owner.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, owner)


def restore_command(sweep_dir: Path) -> None:
    """Put the folder's own multirun.yaml back over the one a refused command's sweeper wrote."""
    owner = Path(sweep_dir) / OWNER
    if owner.is_file():
        shutil.copyfile(owner, Path(sweep_dir) / MULTIRUN_FILE)


def _points(config: Any) -> List[str]:
    """What a sweep sweeps, less the keys that steer how points run (resume.*, train.checkpoint_every)."""
    return point_overrides(sweep_arguments(config.hydra))


def has_points(sweep_dir: Path) -> bool:
    """Whether any point has left a record or a checkpoint in the folder."""
    return any(True for _ in sweep_dir.rglob(METRICS_FILE)) or any(True for _ in sweep_dir.rglob("last.ckpt"))


def _command(config: Any) -> str:
    return " ".join(["gansweep -m", *sweep_arguments(config.hydra)])


class ClaimSweep(Callback):
    """gansweep's config's `hydra.callbacks.sweep_owner`: the folder is claimed when the multirun starts, before any
    sweeper (Hydra's, Optuna's) writes its multirun.yaml into it; a refusal is one line, and the folder untouched."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from gansweep.hydra_job import stop_with

        try:
            claim_sweep(Path(str(config.hydra.sweep.dir)), config)
        except SweepRefused as err:
            stop_with(str(err), err)
