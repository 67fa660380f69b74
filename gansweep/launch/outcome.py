"""What a point's process left behind, made whole: a JobReturn for the sweeper and a metrics.json in its folder.

A point that died hard (SIGKILL, segfault, os._exit) wrote no record; the parent writes one saying how it died
and where its output is. A record the point wrote itself is never touched, nor a folder the point refused (another
point's, another config's, one a live process holds). A record that cannot be written (a full disk, an unwritable
folder) is kept in memory and retried (gansweep.launch.pending); it never takes the launcher down.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from hydra.core.utils import JobReturn, JobRuntime, JobStatus
from omegaconf import DictConfig, OmegaConf

from gansweep.hydra_job import hydra_config, sweeper_value, task_config
from gansweep.launch.child import CONSOLE_LOG, JobResult, PointSpec
from gansweep.launch.pending import PendingRecords
from gansweep.launch.pool import Ended
from gansweep.record import FINISHED, METRICS_FILE, new_record

log = logging.getLogger(__name__)


def record_stamp(run_dir: Path) -> Optional[Tuple[int, int]]:
    """Identifies this version of metrics.json (records are replaced, never edited, so a new one differs)."""
    try:
        stat = (Path(run_dir) / METRICS_FILE).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def describe_exit(exitcode: Optional[int]) -> Tuple[str, Dict[str, Any]]:
    """A phrase and the record fields for how a process ended (negative exit codes are signals)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name} (signal {-exitcode})", {"exit_signal": name}
    return f"exited with code {exitcode}", {"exit_code": exitcode}


def settle(ended: Ended, callbacks: Any, pending: PendingRecords, records: bool = True) -> Tuple[JobReturn, str]:
    """The point's JobReturn and status; writes its metrics.json if its process did not (its own record, when the
    process could not write it, else how it ended), then on_job_end. records=False: another Hydra app's job, which
    keeps no metrics.json: its JobReturn as run_job gave it."""
    spec = ended.spec
    assert isinstance(spec, PointSpec), "a fused group is settled point by point (gansweep.launch.local.split_group)"
    run_dir = Path(spec.run_dir)
    kind, payload = ended.message or (None, None)
    result: Optional[JobResult] = payload if kind == "result" else None
    if not records:
        if result is not None:
            job_return = job_return_for(spec.config, result.status, result.value, result.task_name, result.working_dir)
            return job_return, "ok" if result.status == JobStatus.COMPLETED else "failed"
        how = payload if kind == "error" else f"the job's process {describe_exit(ended.exitcode)[0]}"
        return job_return_for(spec.config, JobStatus.FAILED, RuntimeError(str(how)), None, os.getcwd()), "failed"
    refused = result is not None and getattr(result.value, "leaves_folder", False)
    if refused:  # the folder is another point's, another config's, or a live process's: not the launcher's to write
        log.error(f"#{spec.num} refused: {result.value}")  # type: ignore[union-attr]
    elif result is not None and result.unwritten is not None:
        pending.write(run_dir, result.unwritten)
    elif unrecorded(run_dir, spec.record_stamp, returned=result is not None):
        pending.write(run_dir, _failed_record(ended, _failure(ended, result)))
    status = "refused" if refused else pending.status(run_dir) or record_status(run_dir)
    if result is not None and not refused:
        job_return = job_return_for(spec.config, result.status, result.value, result.task_name, result.working_dir)
        return job_return, status
    # Refused, or the process never got to return: answered as the task answers for a failed point (the worst value
    # for the sweeper, never an error it would abort on), so the sweep goes on.
    task_name = result.task_name if result is not None else JobRuntime.instance().get("name")
    worst = sweeper_value(math.nan, spec.config.hydra)
    job_return = job_return_for(spec.config, JobStatus.COMPLETED, worst, task_name, os.getcwd())
    if result is None:  # a refused point's own process told Hydra's callbacks already
        job_end(callbacks, spec.config, job_return)
    return job_return, status


def unrecorded(run_dir: Path, stamp_before: Optional[Tuple[int, int]], returned: bool) -> bool:
    """Whether this attempt ended without a record of its own. A record from an earlier attempt that the task
    returned over was left on purpose (a finished point skipped, a folder of another point refused); one the
    process died over stands unless it says the point finished."""
    stamp = record_stamp(run_dir)
    if stamp is None:
        return True
    if stamp != stamp_before:  # the point wrote its own record
        return False
    return not returned and record_status(run_dir) not in FINISHED


def _failure(ended: Ended, result: Optional[JobResult]) -> Tuple[str, Dict[str, Any]]:
    how, fields = describe_exit(ended.exitcode)
    if result is None:
        kind, payload = ended.message or (None, None)
        what = f"failed ({payload}) and {how}" if kind == "error" else how
        oom = " (the kernel's out-of-memory killer sends SIGKILL)" if fields.get("exit_signal") == "SIGKILL" else ""
        return f"the point's process {what} before it recorded a result{oom}", fields
    if result.status == JobStatus.FAILED:
        return f"{type(result.value).__name__}: {result.value}", fields
    return "the task returned without writing metrics.json", fields


def _failed_record(ended: Ended, failure: Tuple[str, Dict[str, Any]]) -> Dict[str, Any]:
    text, fields = failure
    assert isinstance(ended.spec, PointSpec)
    log_path = os.path.join(ended.spec.run_dir, CONSOLE_LOG)
    return lost_record(ended.spec.config, f"{text}; its output: {log_path}", ended.end - ended.start, log_path, fields)


def lost_record(
    config: DictConfig, error: str, wall_time_s: Optional[float], log_path: str, fields: Dict[str, Any]
) -> Dict[str, Any]:
    """The record a launcher writes for a point that could not write its own: failed, how, and where its output is."""
    record = new_record(config.hydra, task_config(config))
    record.update(
        status="failed",
        error=error,
        g_iters=None,  # unknown: the process could not say
        wall_time_s=round(wall_time_s, 3) if wall_time_s is not None else None,
        log=log_path,
        **fields,
    )
    return record


def job_return_for(config: DictConfig, status: JobStatus, value: Any, task_name: Any, working_dir: Any) -> JobReturn:
    """The JobReturn run_job would give, built from the parent's copy of the point's config."""
    job_return = JobReturn(
        overrides=list(config.hydra.overrides.task),
        cfg=task_config(config),
        hydra_cfg=OmegaConf.masked_copy(config, "hydra"),  # as HydraConfig holds it in run_job
        working_dir=working_dir,
        task_name=task_name,
        status=status,
    )
    job_return.return_value = value
    return job_return


def job_end(callbacks: Any, config: DictConfig, job_return: JobReturn) -> None:
    """Hydra's on_job_end for a point whose own process could not call it, with its config current as in run_job."""
    with hydra_config(config):
        callbacks.on_job_end(config=config, job_return=job_return)


def record_status(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / METRICS_FILE).read_text()).get("status", "?"))
    except (OSError, ValueError):
        return "?"
