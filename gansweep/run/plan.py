"""What running the task again does with a run folder: skip it, resume it from its checkpoint, or train it (again).

The folder alone decides, so every launcher gets the same behaviour: metrics.json `ok`, `diverged` or `pruned` ->
skip (the point is finished; a pruned one keeps its checkpoint); `failed` -> skip unless resume.failed asks for a
rerun (from scratch) or a resume (from its checkpoint); `interrupted` or no metrics.json -> resume from
checkpoints/last.ckpt, or train from scratch when there is none. A folder that belongs to another grid point
(different overrides) is refused, untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gansweep.grid import point_overrides
from gansweep.record import (
    CHECKPOINT,
    FINISHED,
    METRICS_FILE,
    STATE_KEY,
    config_hash,
    identity_changes,
    load_checkpoint,
    read_record,
)

SKIP, RESUME, FRESH = "skip", "resume", "fresh"
FAILED_POLICIES = ("skip", "rerun", "resume")
CHANGED_POLICIES = ("refuse", "fresh")
RETIRED_FAILURE = "metrics.failed.json"  # a retried point's failed record, kept for its error and traceback
# resume.changed=fresh keeps what the old config made, each file renamed with that config's hash ({h}), never
# overwritten: its record, checkpoint, curves and resolved config
REPLACED = (
    (METRICS_FILE, "metrics.replaced-{h}.json"),
    (str(CHECKPOINT), "checkpoints/replaced-{h}.ckpt"),
    ("logs/metrics.csv", "logs/metrics.replaced-{h}.csv"),
    ("config.yaml", "config.replaced-{h}.yaml"),
)


class OtherPointError(Exception):
    """The run folder holds the record or checkpoint of a different grid point (other overrides)."""

    leaves_folder = True  # a launcher answering for this point writes nothing into the folder


class ChangedConfigError(OtherPointError):
    """The run folder's point was trained on another config than the one given now (resume.changed=refuse)."""

    def __init__(self, run_dir: Path, changes: List[Tuple[str, Any, Any]]) -> None:
        self.run_dir, self.changes = run_dir, changes
        super().__init__(changed_message(run_dir, changes))

    def __reduce__(self) -> Any:  # crosses process boundaries (a point's result) whole
        return (type(self), (self.run_dir, self.changes))


def changed_message(run_dir: Path, changes: List[Tuple[str, Any, Any]], shown: int = 6) -> str:
    """Which keys differ and the two ways out."""
    if changes:
        listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, old, new in changes[:shown])
        more = f" (and {len(changes) - shown} more)" if len(changes) > shown else ""
        what = f"its config differs from this command's in {listed}{more}"
    else:
        what = "its config hash differs from this command's config (its checkpoint, which would say how, is gone)"
    return (
        f"{run_dir} was trained on another config: {what}. Restore the config it was trained on (its config.yaml "
        "shows it, resolved), or add resume.changed=fresh to train it again from scratch on this one (its record, "
        "checkpoint, curves and config are kept beside, named with the old config's hash)."
    )


@dataclass
class Plan:
    action: str  # skip | resume | fresh
    reason: str  # for the log
    record: Optional[Dict[str, Any]] = None  # the folder's metrics.json, if any
    checkpoint: Optional[Dict[str, Any]] = None  # resume: the loaded checkpoint
    retry: Optional[str] = None  # rerun | resume | replace: prepare() retires the record (and checkpoint) it replaces


def plan_run(
    run_dir: Path,
    overrides: Sequence[str],
    failed: str,
    iters: int,
    ident: Optional[Dict[str, Any]] = None,
    changed: str = "refuse",
) -> Plan:
    """Decide from the folder's metrics.json and checkpoint; reads only. `failed` is resume.failed, `iters` the
    budget (a checkpoint that already holds it cannot be continued: the point is trained again), `ident` the point's
    config identity now (None: not checked) and `changed` resume.changed, what to do when it differs."""
    if failed not in FAILED_POLICIES:
        raise ValueError(f"resume.failed is one of {', '.join(FAILED_POLICIES)}; got {failed!r}")
    if changed not in CHANGED_POLICIES:
        raise ValueError(f"resume.changed is one of {', '.join(CHANGED_POLICIES)}; got {changed!r}")
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    decided = plan_record(run_dir, record, overrides, failed, ident, changed)
    if decided is not None:
        return decided
    retry = (
        failed
        if record is not None and record.get("status") == "failed" and record.get("started") is not False
        else None
    )
    checkpoint = load_checkpoint(run_dir / CHECKPOINT)
    if checkpoint is None:
        return Plan(FRESH, "no checkpoint yet: trained from scratch", record, None, retry)
    state = checkpoint[STATE_KEY]
    _check_same_point(run_dir / CHECKPOINT, state.get("overrides"), overrides)
    if _differs(state.get("config_hash"), ident):
        return _changed(run_dir, ident, changed, record, state.get("config"))
    if state["g_iters"] >= iters:
        reason = f"its checkpoint holds the whole budget ({state['g_iters']} >= train.iters={iters}) but no record"
        return Plan(FRESH, reason + ": trained again from scratch", record, None, retry)
    return Plan(RESUME, f"resumed from generator iteration {state['g_iters']}", record, checkpoint, retry)


def plan_record(
    run_dir: Path,
    record: Optional[Dict[str, Any]],
    overrides: Sequence[str],
    failed: str,
    ident: Optional[Dict[str, Any]],
    changed: str,
) -> Optional[Plan]:
    """The decision metrics.json alone makes (skip a finished point, rerun a failed one, refuse another point's or
    another config's folder), or None when the checkpoint decides (a launcher reads records without loading one)."""
    if record is None:
        return None
    _check_same_point(run_dir / METRICS_FILE, record.get("overrides"), overrides)
    if record.get("started") is False:  # a launcher refused its config before it ran: nothing trained, nothing to keep
        return None
    if _differs(record.get("config_hash"), ident):
        return _changed(run_dir, ident, changed, record)
    status = record.get("status")
    if status in FINISHED:
        return Plan(SKIP, f"recorded as {status}", record)
    if status == "failed":
        if failed == "skip":
            return Plan(SKIP, "recorded as failed (resume.failed=rerun or =resume retries it)", record)
        if failed == "rerun":
            return Plan(
                FRESH, "recorded as failed: trained again from scratch (resume.failed=rerun)", record, None, failed
            )
    elif status != "interrupted":
        raise ValueError(f"{run_dir / METRICS_FILE} has an unknown status {status!r}")
    return None


def prepare(run_dir: Path, plan: Plan) -> None:
    """Before a retried failed point trains: its record moves to metrics.failed.json (the folder is then simply
    unfinished, should this attempt be killed too) and, for a rerun, its checkpoint goes. A point trained again on a
    changed config keeps its record, checkpoint, curves and config beside, named with the old config's hash."""
    if plan.retry is None:
        return
    run_dir = Path(run_dir)
    if plan.retry == "replace":
        old_hash = str((plan.record or {}).get("config_hash") or "unknown")
        for old, kept in REPLACED:
            target = run_dir / kept.format(h=old_hash)
            for n in range(2, 1000):  # the same old config replaced twice: neither copy is lost
                if not target.exists():
                    break
                target = run_dir / kept.format(h=f"{old_hash}-{n}")
            if (run_dir / old).is_file():
                os.replace(run_dir / old, target)
        return
    os.replace(run_dir / METRICS_FILE, run_dir / RETIRED_FAILURE)
    if plan.retry == "rerun":
        (run_dir / CHECKPOINT).unlink(missing_ok=True)


def _differs(saved_hash: Optional[str], ident: Optional[Dict[str, Any]]) -> bool:
    """Whether a saved config hash (None: written before hashes were recorded) is not the current config's."""
    return saved_hash is not None and ident is not None and saved_hash != config_hash(ident)


def _changed(
    run_dir: Path,
    ident: Optional[Dict[str, Any]],
    changed: str,
    record: Optional[Dict[str, Any]],
    saved: Optional[Dict[str, Any]] = None,
) -> Plan:
    """A folder trained on another config: trained again from scratch (resume.changed=fresh), or refused."""
    if changed == "fresh":
        return Plan(
            FRESH, "its config changed: trained again from scratch (resume.changed=fresh)", record, None, "replace"
        )
    saved = saved or _saved_identity(run_dir)
    raise ChangedConfigError(run_dir, identity_changes(saved, ident or {}) if saved else [])


def _saved_identity(run_dir: Path) -> Dict[str, Any]:
    """The config the point was trained on, from its checkpoint; {} when it has none that reads. (Not .hydra/: Hydra
    rewrites it before a task can refuse the folder.)"""
    try:
        checkpoint = load_checkpoint(run_dir / CHECKPOINT)
    except Exception:
        return {}
    if checkpoint is not None and checkpoint[STATE_KEY].get("config"):
        return dict(checkpoint[STATE_KEY]["config"])
    return {}


def _check_same_point(source: Path, saved: Optional[Sequence[str]], overrides: Sequence[str]) -> None:
    if saved is None:  # written before overrides were recorded
        return
    if point_overrides(saved) != point_overrides(overrides):
        raise OtherPointError(
            f"{source} belongs to another grid point: it was run with {' '.join(saved) or 'no overrides'}, this run "
            f"is {' '.join(overrides) or 'no overrides'}. A sweep resumes with the command that started it "
            "(gansweep-resume DIR); a different run needs its own hydra.sweep.dir / hydra.run.dir."
        )
