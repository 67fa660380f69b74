"""What running the task again does with a run folder: skip it, resume it from its checkpoint, or train it (again).

The folder alone decides, so every launcher gets the same behaviour: metrics.json `ok` or `diverged` -> skip (the
point is finished); `failed` -> skip unless resume.failed asks for a rerun (from scratch) or a resume (from its
checkpoint); `interrupted` or no metrics.json -> resume from checkpoints/last.ckpt, or train from scratch when
there is none. A folder that belongs to another grid point (different overrides) is refused, untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from gansweep.grid import point_overrides
from gansweep.record import CHECKPOINT, METRICS_FILE, STATE_KEY, load_checkpoint, read_record

SKIP, RESUME, FRESH = "skip", "resume", "fresh"
FAILED_POLICIES = ("skip", "rerun", "resume")
RETIRED_FAILURE = "metrics.failed.json"  # a retried point's failed record, kept for its error and traceback


class OtherPointError(Exception):
    """The run folder holds the record or checkpoint of a different grid point (other overrides)."""


@dataclass
class Plan:
    action: str  # skip | resume | fresh
    reason: str  # for the log
    record: Optional[Dict[str, Any]] = None  # the folder's metrics.json, if any
    checkpoint: Optional[Dict[str, Any]] = None  # resume: the loaded checkpoint
    retry: Optional[str] = None  # rerun | resume: a failed point retried; prepare() retires its record


def plan_run(run_dir: Path, overrides: Sequence[str], failed: str, iters: int) -> Plan:
    """Decide from the folder's metrics.json and checkpoint; reads only. `failed` is resume.failed, `iters` the
    budget (a checkpoint that already holds it cannot be continued: the point is trained again)."""
    if failed not in FAILED_POLICIES:
        raise ValueError(f"resume.failed is one of {', '.join(FAILED_POLICIES)}; got {failed!r}")
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    retry = None
    if record is not None:
        _check_same_point(run_dir / METRICS_FILE, record.get("overrides"), overrides)
        status = record.get("status")
        if status in ("ok", "diverged"):
            return Plan(SKIP, f"recorded as {status}", record)
        if status == "failed":
            if failed == "skip":
                return Plan(SKIP, "recorded as failed (resume.failed=rerun or =resume retries it)", record)
            retry = failed
            if failed == "rerun":
                return Plan(
                    FRESH, "recorded as failed: trained again from scratch (resume.failed=rerun)", record, None, retry
                )
        elif status != "interrupted":
            raise ValueError(f"{run_dir / METRICS_FILE} has an unknown status {status!r}")
    checkpoint = load_checkpoint(run_dir / CHECKPOINT)
    if checkpoint is None:
        return Plan(FRESH, "no checkpoint yet: trained from scratch", record, None, retry)
    state = checkpoint[STATE_KEY]
    _check_same_point(run_dir / CHECKPOINT, state.get("overrides"), overrides)
    if state["g_iters"] >= iters:
        reason = f"its checkpoint holds the whole budget ({state['g_iters']} >= train.iters={iters}) but no record"
        return Plan(FRESH, reason + ": trained again from scratch", record, None, retry)
    return Plan(RESUME, f"resumed from generator iteration {state['g_iters']}", record, checkpoint, retry)


def prepare(run_dir: Path, plan: Plan) -> None:
    """Before a retried failed point trains: its record moves to metrics.failed.json (the folder is then simply
    unfinished, should this attempt be killed too) and, for a rerun, its checkpoint goes."""
    if plan.retry is None:
        return
    run_dir = Path(run_dir)
    os.replace(run_dir / METRICS_FILE, run_dir / RETIRED_FAILURE)
    if plan.retry == "rerun":
        (run_dir / CHECKPOINT).unlink(missing_ok=True)


def _check_same_point(source: Path, saved: Optional[Sequence[str]], overrides: Sequence[str]) -> None:
    if saved is None:  # written before overrides were recorded
        return
    if point_overrides(saved) != point_overrides(overrides):
        raise OtherPointError(
            f"{source} belongs to another grid point: it was run with {' '.join(saved) or 'no overrides'}, this run "
            f"is {' '.join(overrides) or 'no overrides'}. A sweep resumes with the command that started it "
            "(gansweep-resume DIR); a different run needs its own hydra.sweep.dir / hydra.run.dir."
        )
