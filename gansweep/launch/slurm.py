"""`hydra/launcher=slurm`: hydra-submitit-launcher's SLURM array, with every point answered for.

Submission is submitit's (one array task per point, resources from `hydra.launcher.*`); requeue after a timeout or
a preemption is submitit's too (the launcher's `checkpoint` resubmits the same call, and the task resumes from the
run folder's checkpoint: gansweep.run.plan). What this adds: the results are gathered point by point, so a job
that died without a result (out-of-memory kill, node failure, cancelled, timed out too often) gets a failed
metrics.json naming its SLURM log, and the sweep still ends with every other point's result and the table.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.types import HydraContext
from omegaconf import DictConfig

from gansweep.hydra_job import sweeper_value
from gansweep.launch.outcome import job_end, job_return_for, lost_record, record_stamp, unrecorded
from gansweep.launch.pending import PendingRecords
from gansweep.launch.prepare import RUN, claim_or_stop, prepare_points, unstarted

log = logging.getLogger(__name__)


def executor_parameters(params: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Split `hydra.launcher.*` into submitit.AutoExecutor's constructor arguments and its update_parameters, with the
    slurm_ prefix on SLURM-only keys, as hydra-submitit-launcher does."""
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    generic = set(OmegaConf.structured(BaseQueueConf).keys())
    init = {"folder": params["submitit_folder"], "slurm_max_num_timeout": params["max_num_timeout"]}
    update = {
        key if key in generic else f"slurm_{key}": value
        for key, value in params.items()
        if key not in ("submitit_folder", "max_num_timeout", "_target_")
    }
    return init, update


def launch_array(
    launcher: Any,
    params: Mapping[str, Any],
    hydra_context: HydraContext,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
) -> List[JobReturn]:
    """Submit one array task per point (each runs `launcher(...)`), wait for all, answer for those that returned
    nothing; JobReturns in the order of `job_overrides`."""
    import submitit

    init, update = executor_parameters(params)
    executor = submitit.AutoExecutor(cluster="slurm", **init)
    executor.update_parameters(**update)
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    claim_or_stop(sweep_dir, config)  # held while the sweep waits for its array
    if not job_overrides:
        return []
    # every point checked before anything is submitted; skipped and failed ones are not submitted
    nums = list(range(initial_job_idx, initial_job_idx + len(job_overrides)))
    points = list(prepare_points(hydra_context, config, job_overrides, nums, whole=True))
    returns: Dict[int, JobReturn] = {}
    pending = PendingRecords()
    for point in points:
        if point.action != RUN:
            returns[point.num], _ = unstarted(point, config, hydra_context.callbacks, pending)
    to_run = [point for point in points if point.action == RUN]
    log.info(f"Submitting {len(to_run)} of {len(job_overrides)} points to SLURM (sweep folder {sweep_dir})")
    calls, stamps = [], []
    for point in to_run:
        assert point.run_dir is not None
        point.run_dir.mkdir(parents=True, exist_ok=True)
        stamps.append(record_stamp(point.run_dir))
        calls.append((point.overrides, "hydra.sweep.dir", point.num, f"job_id_for_{point.num}", Singleton.get_state()))
        log.info(f"\t#{point.num} : {' '.join(filter_overrides(point.overrides))}")
    if to_run:
        jobs = executor.map_array(launcher, *zip(*calls, strict=True))
        log.info(f"SLURM array job {jobs[0].job_id.split('_')[0]}: output in {init['folder']}")
        for job, point, stamp in zip(jobs, to_run, stamps, strict=True):
            assert point.config is not None and point.run_dir is not None
            returns[point.num] = gather(job, point.config, point.run_dir, stamp, hydra_context.callbacks, pending)
    pending.finish()
    return [returns[num] for num in nums]


def gather(
    job: Any, config: DictConfig, run_dir: Path, stamp: Any, callbacks: Any, pending: PendingRecords
) -> JobReturn:
    """The point's JobReturn; a job that raised instead of returning one is recorded as failed (unless the point
    recorded itself, e.g. `interrupted` before a requeue that was refused) and answered with NaN."""
    try:
        return job.results()[0]
    except Exception as err:  # submitit's UncompletedJobError / FailedJobError, or what the job raised
        paths = getattr(job, "paths", None)
        log_path = str(paths.stdout) if paths is not None else str(run_dir)
        error = f"SLURM job {job.job_id} ended without a result ({type(err).__name__}: {_first_line(err)})"
        if unrecorded(run_dir, stamp, returned=False):
            pending.write(run_dir, lost_record(config, f"{error}; its output: {log_path}", None, log_path, {}))
        log.error(f"{error}; recorded in {run_dir / 'metrics.json'}")
        worst = sweeper_value(math.nan, config.hydra)
        job_return = job_return_for(config, JobStatus.COMPLETED, worst, config.hydra.job.name, os.getcwd())
        job_end(callbacks, config, job_return)
        return job_return


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "no message"
