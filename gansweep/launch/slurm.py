"""`hydra/launcher=slurm`: hydra-submitit-launcher's SLURM array, with every point answered for.

Submission is submitit's (one array task per point, or per fused group with `hydra.launcher.fuse`: the local
launcher's grouping, gansweep.run.fusion; resources from `hydra.launcher.*`); requeue after a timeout or a preemption
is submitit's too (the task's `checkpoint` resubmits the same call, and every point resumes from its own run folder's
checkpoint: gansweep.launch.slurm_task, gansweep.run.plan). What this adds: the results are gathered point by point,
so a task that died without a result (out-of-memory kill, node failure, cancelled, timed out too often) gets a failed
metrics.json naming its SLURM log for each of its points, and the sweep still ends with every other point's result
and the table.

With `hydra/sweeper=adaptive` the array's tasks are the study's workers instead (gansweep.launch.slurm_workers),
which train their trials as a task trains grid points (train_points).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.types import HydraContext
from omegaconf import DictConfig

from gansweep.hydra_job import stop_with, sweeper_value
from gansweep.launch.outcome import job_end, job_return_for, lost_record, record_stamp, unrecorded
from gansweep.launch.pending import PendingRecords
from gansweep.launch.prepare import RUN, Prepared, claim_or_stop, is_gansweep_config, prepare_points, unstarted
from gansweep.launch.slurm_task import ArrayJob, ArrayTask

log = logging.getLogger(__name__)
OWN_KEYS = ("submitit_folder", "max_num_timeout", "fuse", "_target_")  # not update_parameters' keys


@dataclass(frozen=True)
class Submitted:
    """A point as its array task was submitted: its composed config, its run folder and its record's stamp before."""

    config: DictConfig
    run_dir: Path
    stamp: Optional[Tuple[int, int]]


def executor_parameters(params: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Split `hydra.launcher.*` into submitit.AutoExecutor's constructor arguments and its update_parameters, with the
    slurm_ prefix on SLURM-only keys, as hydra-submitit-launcher does (gansweep's own `fuse` goes to neither)."""
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    generic = set(OmegaConf.structured(BaseQueueConf).keys())
    init = {"folder": params["submitit_folder"], "slurm_max_num_timeout": params["max_num_timeout"]}
    update = {key if key in generic else f"slurm_{key}": value for key, value in params.items() if key not in OWN_KEYS}
    return init, update


def slurm_executor(params: Mapping[str, Any]) -> Any:
    """submitit's SLURM executor with the launcher's parameters (executor_parameters)."""
    import submitit

    init, update = executor_parameters(params)
    executor = submitit.AutoExecutor(cluster="slurm", **init)
    executor.update_parameters(**update)
    return executor


def launch_array(
    launcher: Any,
    params: Mapping[str, Any],
    hydra_context: HydraContext,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
) -> List[JobReturn]:
    """Submit one array task per point, or per fused group (each runs gansweep.launch.slurm_task.ArrayTask around
    `launcher`), wait for all, answer for those that returned nothing; JobReturns in the order of `job_overrides`."""
    fuse = fuse_setting(params, config)
    executor = slurm_executor(params)
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
    groups = array_groups([point for point in points if point.action == RUN], fuse)
    count = sum(len(group) for group in groups)
    fused = f" as {len(groups)} array tasks (up to {fuse} points fused per task)" if fuse > 1 else ""
    log.info(f"Submitting {count} of {len(job_overrides)} points to SLURM{fused} (sweep folder {sweep_dir})")
    jobs, sent = [], []
    for group in groups:
        sent.append([_submitted(point) for point in group])
        jobs.append(_array_job(group))
    if jobs:
        state = Singleton.get_state()
        tasks = executor.map_array(ArrayTask(launcher), jobs, [state] * len(jobs))
        log.info(f"SLURM array job {tasks[0].job_id.split('_')[0]}: output in {params['submitit_folder']}")
        for task, job, submitted in zip(tasks, jobs, sent, strict=True):
            gathered = gather(task, submitted, hydra_context.callbacks, pending)
            returns.update(zip(job.nums, gathered, strict=True))
    pending.finish()
    return [returns[num] for num in nums]


def fuse_setting(params: Mapping[str, Any], config: DictConfig) -> int:
    """`hydra.launcher.fuse`, checked before anything is submitted; 1 for another Hydra app (no fusion there)."""
    from gansweep.run.fusion import check_fuse

    try:
        fuse = check_fuse(params.get("fuse", 1))
    except ValueError as err:
        stop_with(str(err), err)
    return fuse if is_gansweep_config(config) else 1


def array_groups(to_run: Sequence[Prepared], fuse: int) -> List[List[Prepared]]:
    """The points to run, one list per array task: the local launcher's fused groups (gansweep.run.fusion), or one
    point each; in the order of their first points."""
    if fuse == 1:
        return [[point] for point in to_run]
    from gansweep.run.fusion import group_points

    configs = [point.config for point in to_run if point.config is not None]
    assert len(configs) == len(to_run), "a point to run is composed"
    groups = [[to_run[i] for i in group] for group in group_points(configs, fuse)]
    for group in groups:
        if len(group) > 1:
            log.info(f"\tfused: #{', #'.join(str(point.num) for point in group)} train as one model")
    return groups


def _submitted(point: Prepared) -> Submitted:
    """The point's run folder made (submitit's task writes into it) and its record's stamp taken, before it runs."""
    assert point.config is not None and point.run_dir is not None
    point.run_dir.mkdir(parents=True, exist_ok=True)
    log.info(f"\t#{point.num} : {' '.join(filter_overrides(point.overrides))}")
    return Submitted(point.config, point.run_dir, record_stamp(point.run_dir))


def _array_job(group: Sequence[Prepared]) -> ArrayJob:
    """One array task's points: a single point's overrides (composed again in the task), a group's configs too."""
    configs = tuple(point.config for point in group if point.config is not None) if len(group) > 1 else ()
    return ArrayJob(tuple(p.num for p in group), tuple(tuple(p.overrides) for p in group), configs)


def gather(job: Any, points: Sequence[Submitted], callbacks: Any, pending: PendingRecords) -> List[JobReturn]:
    """Each point's JobReturn from its array task; when the task raised instead of returning them, each point without a
    record of this attempt's (an `interrupted` one written before a requeue that was refused stands) is recorded as
    failed, naming the task's SLURM log, and answered with the worst value for the sweeper."""
    try:
        return list(job.results()[0])
    except Exception as err:  # submitit's UncompletedJobError / FailedJobError, or what the task raised
        paths = getattr(job, "paths", None)
        log_path = str(paths.stdout) if paths is not None else str(points[0].run_dir)
        what = f"SLURM job {job.job_id}" + (f" (a fused group of {len(points)} points)" if len(points) > 1 else "")
        error = f"{what} ended without a result ({type(err).__name__}: {first_line(err)})"
        return [_lost(point, error, log_path, callbacks, pending) for point in points]


def _lost(point: Submitted, error: str, log_path: str, callbacks: Any, pending: PendingRecords) -> JobReturn:
    """A point whose task returned nothing: recorded failed unless it recorded itself, answered with the worst value."""
    if unrecorded(point.run_dir, point.stamp, returned=False):
        pending.write(point.run_dir, lost_record(point.config, f"{error}; its output: {log_path}", None, log_path, {}))
    log.error(f"{error}; recorded in {point.run_dir / 'metrics.json'}")
    worst = sweeper_value(math.nan, point.config.hydra)
    job_return = job_return_for(point.config, JobStatus.COMPLETED, worst, point.config.hydra.job.name, os.getcwd())
    job_end(callbacks, point.config, job_return)
    return job_return


def first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "no message"


def train_points(
    launcher: Any,
    jobs: Sequence[Tuple[int, Sequence[str]]],
    fuse: int,
    swept: Sequence[str],
    singleton_state: Any,
    refill: Any = None,
) -> List[JobReturn]:
    """Inside an array task: the points `jobs` (job number, overrides) trained as this launcher's array tasks train
    grid points: each prepared (composed, checked, its folder read: a finished one skipped, one whose config cannot
    train recorded failed, gansweep.launch.prepare), those to run in the fused groups of up to `fuse` (array_groups),
    each group, or point, as an array task runs it (ArrayTask: a point's folder resumes from its checkpoint). A
    JobReturn per job, in order; `swept`: the keys the sweep varies; `refill`: a fused group's freed slots take new
    trials (gansweep.search.refill)."""
    from gansweep.launch.prepare import Preparer

    config, context = launcher.config, launcher.hydra_context
    preparer = Preparer(context, config, [list(overrides) for _, overrides in jobs], swept)
    points = [preparer.prepare(overrides, num) for num, overrides in jobs]
    returns: Dict[int, JobReturn] = {}
    pending = PendingRecords()
    for point in points:
        if point.action != RUN:
            returns[point.num], _ = unstarted(point, config, context.callbacks, pending)
    task = ArrayTask(launcher)
    for group in array_groups([point for point in points if point.action == RUN], fuse):
        for point in group:
            assert point.run_dir is not None
            point.run_dir.mkdir(parents=True, exist_ok=True)
        job = replace(_array_job(group), refill=refill if len(group) > 1 else None)
        returns.update(zip(job.nums, task(job, singleton_state), strict=True))
    pending.finish()
    return [returns[num] for num, _ in jobs]
