"""The local launcher's work: compose each point, run it in its own warm-started process on a leased GPU,
record whatever happened to it, report progress, and hand Hydra one JobReturn per point."""

from __future__ import annotations

import json
import logging
import os
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict, read_write

from gansweep.grid import varying_overrides
from gansweep.hydra_job import sweep_output_dir
from gansweep.launch.child import CONSOLE_LOG, GroupSpec, PointSpec, Spec
from gansweep.launch.gpus import visible_gpus
from gansweep.launch.leases import Leases
from gansweep.launch.outcome import record_stamp, settle
from gansweep.launch.plan import plan_launch
from gansweep.launch.pool import Ended, PointPool, SweepStopped, stop_on_signals
from gansweep.launch.preflight import preflight
from gansweep.launch.progress import Progress
from gansweep.launch.warm import preload_list

log = logging.getLogger(__name__)
JOBS_LOG = "jobs.jsonl"  # in the sweep folder: one line per point's process (lease, pid, times, exit, status)


def launch(
    settings: Mapping[str, Any],
    hydra_context: HydraContext,
    task_function: TaskFunction,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
) -> List[JobReturn]:
    """Run every point of one batch; returns their JobReturns in the order of `job_overrides`."""
    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    plan = plan_launch(settings, visible_gpus())  # a wrong setting fails here, before anything starts
    if job_overrides:  # missing metric weights stop the sweep here, not in every point
        preflight([point_config(hydra_context, config, job_overrides[0], initial_job_idx)[0]])
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    # OmegaConf resolvers are closures: the child registers Hydra's own again (setup_globals) instead
    context = pickle.dumps((hydra_context, task_function, Singleton.get_state()["instances"]))
    pool = PointPool(Leases(plan.devices, plan.per_device), preload_list(plan.preload))
    log.info(
        f"Launching {len(job_overrides)} points, {plan.describe()}, each in its own process "
        f"(output in its folder's {CONSOLE_LOG}; sweep folder {sweep_dir})"
    )
    points = (
        _compose(hydra_context, config, overrides, initial_job_idx + i, context, plan.concurrency)
        for i, overrides in enumerate(job_overrides)
    )
    # fused: every point composed first, as the groups depend on all of them
    specs: Iterable[Spec] = fused_specs(list(points), plan.fuse) if plan.fuse > 1 else points
    progress = Progress(len(job_overrides))
    axes = varying_overrides([filter_overrides(o) for o in job_overrides])  # what tells points apart
    returns: Dict[int, JobReturn] = {}

    def on_end(ended: Ended) -> None:
        for point_ended in split_group(ended):
            job_return, status = settle(point_ended, hydra_context.callbacks)
            num = point_ended.spec.num
            returns[num] = job_return
            point = axes[num - initial_job_idx]
            log.info(progress.finished(num, status, ended.end - ended.start, point, len(pool.running)))
            _append_job_line(sweep_dir, point_ended, status)

    try:
        with stop_on_signals():
            pool.run(specs, on_end)
    except SweepStopped as stopped:
        log.warning(
            f"{stopped}: its running points were stopped (each saved a checkpoint and recorded itself as "
            f"interrupted); `gansweep-resume {sweep_dir}` finishes the sweep"
        )
        raise SystemExit(128 + stopped.signum) from None
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    return [returns[initial_job_idx + i] for i in range(len(job_overrides))]


def fused_specs(points: List[PointSpec], fuse: int) -> List[Spec]:
    """The points in groups of up to `fuse` that differ only in fusible values (gansweep.run.fusion), each group
    one job; a point alone stays an ordinary job. Jobs in the order of their first points."""
    from gansweep.run.fusion import group_points

    groups = group_points([point.config for point in points], fuse)
    jobs: List[Spec] = []
    for group in groups:
        members = tuple(points[i] for i in group)
        lead_log = Path(members[0].run_dir) / CONSOLE_LOG
        log_start = lead_log.stat().st_size if lead_log.is_file() else 0
        jobs.append(GroupSpec(members, log_start=log_start) if len(members) > 1 else members[0])
        if len(members) > 1:
            log.info(f"\tfused: #{', #'.join(str(p.num) for p in members)} train as one model")
    return jobs


def split_group(ended: Ended) -> List[Ended]:
    """A group's end as each of its points' (its own result, or the group's error or death); the group's output is
    copied into every point's console.log. A point's end is itself."""
    if not isinstance(ended.spec, GroupSpec):
        return [ended]
    kind, payload = ended.message or (None, None)
    output = _attempt_output(Path(ended.spec.run_dir) / CONSOLE_LOG, ended.spec.log_start)
    per_point = []
    for k, point in enumerate(ended.spec.points):
        message = ("result", payload[k]) if kind == "results" and payload is not None else ended.message
        if k:  # appended, as each attempt's output is: an earlier attempt's stays
            with open(Path(point.run_dir) / CONSOLE_LOG, "ab") as fh:
                fh.write(output)
        per_point.append(replace(ended, spec=replace(point, lease=ended.spec.lease), message=message))
    return per_point


def _attempt_output(path: Path, start: int) -> bytes:
    """What the group's process wrote to its first point's console.log."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            return fh.read()
    except OSError:
        return b""


def _compose(
    hydra_context: HydraContext,
    config: DictConfig,
    overrides: Sequence[str],
    num: int,
    context: bytes,
    concurrency: int,
) -> PointSpec:
    """What the point's process needs: its config, folder and the record it starts from."""
    sweep_config, run_dir = point_config(hydra_context, config, overrides, num)
    run_dir.mkdir(parents=True, exist_ok=True)
    return PointSpec(num, sweep_config, str(run_dir), record_stamp(run_dir), context, os.getcwd(), concurrency)


def point_config(
    hydra_context: HydraContext, config: DictConfig, overrides: Sequence[str], num: int
) -> Tuple[DictConfig, Path]:
    """The point's config as Hydra's basic launcher composes it, and the run folder run_job will give it."""
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = num
        sweep_config.hydra.job.num = num
    run_dir = sweep_output_dir(sweep_config)
    with read_write(sweep_config.hydra.runtime), open_dict(sweep_config.hydra.runtime):
        sweep_config.hydra.runtime.output_dir = str(run_dir)
    return sweep_config, run_dir


def _append_job_line(sweep_dir: Path, ended: Ended, status: str) -> None:
    run_dir = Path(ended.spec.run_dir)
    line = {
        "job": ended.spec.num,
        "run_dir": str(run_dir.relative_to(sweep_dir)) if run_dir.is_relative_to(sweep_dir) else str(run_dir),
        "gpu": ended.spec.lease or None,
        "pid": ended.pid,
        "start": round(ended.start, 3),
        "end": round(ended.end, 3),
        "exitcode": ended.exitcode,
        "status": status,
    }
    with open(sweep_dir / JOBS_LOG, "a") as fh:
        fh.write(json.dumps(line) + "\n")
