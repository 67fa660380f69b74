"""metrics.json: the one record every run leaves, whatever happened to it (ok, diverged, failed or interrupted)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from gansweep.files import write_text_atomic

METRICS_FILE = "metrics.json"
STATUSES = ("ok", "diverged", "failed", "interrupted")
# choices a user does not make: Hydra's own, and debug's sizes (picked from debug, e.g. for_smoke, or for_None)
DERIVED_CHOICES = ("hydra", "debug/")  # interrupted: stopped by a signal, resumable


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
