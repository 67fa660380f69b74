"""A run folder's two formats: metrics.json, the one record every run leaves whatever happened to it (ok, diverged,
failed or interrupted), and checkpoints/last.ckpt, the training state a resumed run continues from."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from gansweep.files import write_text_atomic

METRICS_FILE = "metrics.json"
STATUSES = ("ok", "diverged", "failed", "interrupted")  # interrupted: stopped by a signal, resumable
# choices a user does not make: Hydra's own, debug's sizes (picked from debug, e.g. for_smoke, or for_None) and a
# protocol's loss settings (picked from protocol and loss, e.g. bures_images/bures, or None/wgan)
DERIVED_CHOICES = ("hydra", "debug/", "protocol/")
CHECKPOINT = Path("checkpoints") / "last.ckpt"  # in the run folder
STATE_KEY = "gansweep"  # gansweep's part of a checkpoint: g_iters, the global RNG states, the run's overrides
OBJECTIVES = ("energy_distance", "fid_inception", "kl", "fid_digits")  # what a sweeper minimises, first recorded


def _json_safe(value: Any) -> Any:
    """NaN/inf become null (strict JSON); nested containers are walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def new_record(hydra_cfg: Any, seed: Any) -> Dict[str, Any]:
    """A point's record before it runs: "failed" until the run says otherwise, with its choices and overrides.

    `hydra_cfg` is the point's `hydra` node; the task and the launcher (for a point that died) both start here.
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
        "seed": seed,
    }


def write_record(run_dir: Path, record: Dict[str, Any]) -> Path:
    """Write metrics.json atomically (a temp file renamed over it), so a reader never sees half a record."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {record.get('status')!r}")
    return write_text_atomic(Path(run_dir) / METRICS_FILE, json.dumps(_json_safe(record), indent=2) + "\n")


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


def load_checkpoint(path: Path) -> Optional[Dict[str, Any]]:
    """A checkpoint gansweep wrote (networks, optimizer and scheduler states, callback states, and under STATE_KEY its
    g_iters, RNG states and overrides), on the CPU; None when absent."""
    if not Path(path).is_file():
        return None
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def checkpoint_iteration(checkpoint: Optional[Dict[str, Any]]) -> int:
    """The generator iteration a checkpoint holds; 0 (a fresh start) for none."""
    return int(checkpoint[STATE_KEY]["g_iters"]) if checkpoint is not None else 0
