"""A run folder's two formats: metrics.json, the one record every run leaves whatever happened to it (ok, diverged,
failed, interrupted or pruned), and checkpoints/last.ckpt, the training state a resumed run continues from."""

from __future__ import annotations

import hashlib
import json
import math
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gansweep.files import write_text_atomic

METRICS_FILE = "metrics.json"
STATUSES = ("ok", "diverged", "failed", "interrupted", "pruned")  # interrupted: stopped by a signal, resumable;
# pruned: stopped by an adaptive sweep's pruner at an evaluation (its checkpoint kept: it can be promoted later)
FINISHED = ("ok", "diverged", "pruned")  # what running the sweep again skips
# choices a user does not make: Hydra's own, debug's sizes (picked from debug, e.g. for_smoke, or for_None) and a
# protocol's loss settings (picked from protocol and loss, e.g. bures_images/bures, or None/wgan)
DERIVED_CHOICES = ("hydra", "debug/", "protocol/")
CHECKPOINT = Path("checkpoints") / "last.ckpt"  # in the run folder
STATE_KEY = "gansweep"  # gansweep's part of a checkpoint: g_iters, the global RNG states, the run's overrides
# how a run is kept, not what it trains: left out of a point's identity (a resume may change them)
IDENTITY_EXCLUDED = ("resume", "logger", "trainer.enable_progress_bar", "train.checkpoint_every", "search")
OBJECTIVES = ("energy_distance", "fid_inception", "kl", "fid_digits")  # what a sweeper minimises, first recorded
# the sweep's headline metric when none is named: the first of these a record has (then any fid_*); the report ranks
# by it and an adaptive sweep (gansweep.search) optimises it
HEADLINE_ORDER = ("fid_inception", "fid_*", "modes_covered", "energy_distance")
HIGHER_IS_BETTER = ("modes_covered", "modes", "hq_pct")
HIGHER_IS_BETTER_PREFIXES = ("precision_", "recall_")


def _json_safe(value: Any) -> Any:
    """NaN/inf become null (strict JSON); nested containers are walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def new_record(hydra_cfg: Any, cfg: Any) -> Dict[str, Any]:
    """A point's record before it runs: "failed" until the run says otherwise, with its choices, overrides and the
    hash of its config (its identity: a resume refuses a folder whose point was trained on another config).

    `hydra_cfg` is the point's `hydra` node, `cfg` its task config; the task and the launcher (for a point that died
    or was refused before it started) both start here.
    """
    return {
        "status": "failed",
        "error": None,
        "g_iters": 0,
        "wall_time_s": None,
        "metrics": {},
        "protocol": {},  # how each evaluation measured its metrics (extractor, weights, sample counts)
        "choices": {k: str(v) for k, v in hydra_cfg.runtime.choices.items() if not k.startswith(DERIVED_CHOICES)},
        "overrides": list(hydra_cfg.overrides.task),
        "seed": cfg.get("seed"),
        "config_hash": config_hash(identity(cfg)),
    }


def identity(cfg: Any) -> Dict[str, Any]:
    """What a point trains on: its task config (or a composed one, less its hydra node) as dotted keys, interpolations
    within it as written (`${hydra:...}` and `${oc.env:...}` say where it runs, not what it trains), less how the run
    is kept (IDENTITY_EXCLUDED)."""
    from omegaconf import OmegaConf

    from gansweep.hydra_job import task_nodes

    flat: Dict[str, Any] = {}
    for key, node in task_nodes(cfg):
        value = OmegaConf.to_container(node, enum_to_str=True) if OmegaConf.is_config(node) else node._value()
        _flatten(value.name if isinstance(value, Enum) else value, f"{key}.", flat)
    return {k: v for k, v in flat.items() if not any(k == x or k.startswith(x + ".") for x in IDENTITY_EXCLUDED)}


def config_hash(ident: Dict[str, Any]) -> str:
    """A short, stable hash of an identity (the same config gives the same hash on any machine)."""
    text = json.dumps(_json_safe(ident), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity_changes(old: Dict[str, Any], new: Dict[str, Any]) -> List[Tuple[str, Any, Any]]:
    """(key, old value, new value) for every key that differs; a missing side is the string "(absent)"."""
    absent = "(absent)"
    keys = sorted(set(old) | set(new))
    return [(k, old.get(k, absent), new.get(k, absent)) for k in keys if old.get(k, absent) != new.get(k, absent)]


def _flatten(node: Any, prefix: str, out: Dict[str, Any]) -> None:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            _flatten(value, f"{prefix}{key}.", out)
    else:
        out[prefix[:-1]] = node


def write_record(run_dir: Path, record: Dict[str, Any]) -> Path:
    """Write metrics.json atomically (a temp file renamed over it), so a reader never sees half a record."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {record.get('status')!r}")
    return write_text_atomic(Path(run_dir) / METRICS_FILE, json.dumps(_json_safe(record), indent=2) + "\n")


_unwritten: Dict[str, Dict[str, Any]] = {}  # run folder -> a record this process could not write


def keep_unwritten(run_dir: Path, record: Dict[str, Any]) -> None:
    """Hold a record whose write failed (a full disk, an unwritable folder), for the launcher to write later."""
    _unwritten[str(Path(run_dir).absolute())] = dict(record)


def take_unwritten() -> Dict[str, Dict[str, Any]]:
    """The records this process could not write, by run folder; each is handed over once."""
    taken = dict(_unwritten)
    _unwritten.clear()
    return taken


def read_record(run_dir: Path) -> Optional[Dict[str, Any]]:
    """A run folder's metrics.json, or None when it has none yet (never run, or still running)."""
    path = Path(run_dir) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def read_records(sweep_dir: Path) -> List[Dict[str, Any]]:
    """Every metrics.json under a sweep folder, each with its run folder (relative) under "run"."""
    records = []
    for path in sorted(Path(sweep_dir).rglob(METRICS_FILE), key=lambda p: natural_key(p.parent.name)):
        record = json.loads(path.read_text())
        record["run"] = str(path.parent.relative_to(sweep_dir))
        records.append(record)
    return records


def natural_key(name: str) -> tuple:
    """Run folders in job order: 2 before 10; named folders after numbered ones."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def objective(record: Dict[str, Any]) -> float:
    """The value a sweeper minimises: the first recorded of OBJECTIVES (toy: energy distance; images: FID; stacked
    digits: KL), NaN when there is none."""
    metrics = record.get("metrics") or {}
    return float(next((metrics[k] for k in OBJECTIVES if metrics.get(k) is not None), math.nan))


class CheckpointUnreadable(Exception):
    """A checkpoint file that exists but cannot be loaded (truncated, corrupt, not a checkpoint)."""


def load_checkpoint(path: Path) -> Optional[Dict[str, Any]]:
    """A checkpoint gansweep wrote (networks, optimizer and scheduler states, callback states, and under STATE_KEY its
    g_iters, RNG states, overrides and config identity), on the CPU; None when absent. One that cannot be read raises
    CheckpointUnreadable naming the file, its size and the error."""
    path = Path(path)
    if not path.is_file():
        return None
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get(STATE_KEY), dict):
            raise ValueError(f"no {STATE_KEY!r} state in it: not a checkpoint gansweep wrote")
    except Exception as err:
        size = path.stat().st_size
        raise CheckpointUnreadable(
            f"the checkpoint {path} ({size} bytes) cannot be read: {type(err).__name__}: {str(err).splitlines()[0]}"
        ) from err
    return checkpoint


def checkpoint_iteration(checkpoint: Optional[Dict[str, Any]]) -> int:
    """The generator iteration a checkpoint holds; 0 (a fresh start) for none."""
    return int(checkpoint[STATE_KEY]["g_iters"]) if checkpoint is not None else 0


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: mode counts, quality share, precision and recall go up; distances (FID, KID...) down."""
    return metric in HIGHER_IS_BETTER or metric.startswith(HIGHER_IS_BETTER_PREFIXES)


def headline_metric(present: Sequence[str]) -> Optional[str]:
    """The sweep's default metric: fid_inception, another fid_*, modes_covered, energy_distance, else the first."""
    for wanted in HEADLINE_ORDER:
        found = [m for m in present if (m.startswith("fid_") if wanted == "fid_*" else m == wanted)]
        if found:
            return found[0]
    return present[0] if present else None
