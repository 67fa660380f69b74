"""Who a grid point is, for a dashboard: its sweep (W&B group), objective (job type), swept values (name), config
choices (tags) and resolved config, read from the point's Hydra config and its sweep folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from gansweep.grid import read_grid, swept_values
from gansweep.record import DERIVED_CHOICES

TAGGED_CHOICES = ("experiment", "protocol", "loss", "constraint", "dataset", "arch", "metrics")
_TIMESTAMP = re.compile(r"^[\d_.:-]+$")  # Hydra's default sweep folders: multirun/2026-11-29/10-00-00


def sweep_group(sweep_dir: Path) -> str:
    """The sweep's W&B group: its folder's name, with the date folder above it when the name is only a time."""
    path = Path(sweep_dir).absolute()
    return f"{path.parent.name}/{path.name}" if _TIMESTAMP.match(path.name) and path.parent.name else path.name


def point_name(overrides: Sequence[str], sweep_dir: Optional[Path], job_num: Optional[int]) -> Optional[str]:
    """`#3 optim.lr=0.0001 seed=1`: the point's swept values (its whole overrides when the grid cannot be read
    back), after its job number in a sweep; a single run without overrides keeps W&B's own name (None)."""
    grid = read_grid(sweep_dir) if sweep_dir is not None else None
    values = swept_values(list(overrides), grid.swept) if grid is not None else list(overrides)
    parts = ([f"#{job_num}"] if job_num is not None else []) + values
    return " ".join(parts) or None


def choice_tags(choices: Mapping[str, Any]) -> List[str]:
    """`loss=wgan`, `constraint=gp`, ...: the config-group choices a dashboard filters by (unset ones left out)."""
    return [f"{group}={choices[group]}" for group in TAGGED_CHOICES if choices.get(group) not in (None, "None")]


def study_tags(cfg: Any) -> List[str]:
    """`study=NAME` for a trial of an adaptive sweep's study (search.trial set by hydra/sweeper=adaptive), else none."""
    from omegaconf import OmegaConf

    study = OmegaConf.select(cfg, "search.study", default=None)
    trial = OmegaConf.select(cfg, "search.trial", default=None)
    return [f"study={study}"] if study is not None and trial is not None else []


def point_identity(cfg: Any, hydra_cfg: Any) -> Dict[str, Any]:
    """WandbRunLogger.identify's arguments for the running point: config (with the group choices under `choices`),
    group (the sweep, in a multirun), job type (the loss), name (the swept values), tags (the choices, and a
    trial's study) and, for a trial of an adaptive sweep, its status as a tag when it ends."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    choices = {k: v for k, v in hydra_cfg.runtime.choices.items() if not k.startswith(DERIVED_CHOICES)}
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(config, dict)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    sweep_dir = Path(str(hydra_cfg.sweep.dir)) if multirun else None
    job_num = OmegaConf.select(hydra_cfg, "job.num", default=None) if multirun else None
    study = study_tags(cfg)
    return {
        "config": {**config, "choices": choices},
        "group": sweep_group(sweep_dir) if sweep_dir is not None else None,
        "job_type": choices.get("loss"),
        "name": point_name(list(hydra_cfg.overrides.task), sweep_dir, job_num),
        "tags": [*choice_tags(choices), *study],
        "status_tag": bool(study),
    }
