"""The local launcher's work: take the sweep folder, prepare each point as it is needed, run it in its own
warm-started process on a leased GPU, record whatever happened to it, report progress, and hand Hydra one JobReturn
per point."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence, Tuple

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from gansweep.grid import varying_overrides
from gansweep.hydra_job import stop_with
from gansweep.launch.child import CONSOLE_LOG, GroupSpec, PointSpec, Spec
from gansweep.launch.gpus import visible_gpus
from gansweep.launch.leases import Leases
from gansweep.launch.outcome import record_stamp, record_status, settle
from gansweep.launch.owner import has_points
from gansweep.launch.pending import PendingRecords
from gansweep.launch.plan import plan_launch
from gansweep.launch.pool import Ended, PointPool, SweepStopped, stop_on_signals
from gansweep.launch.prepare import RUN, claim_or_stop, is_gansweep_config, prepare_points, unstarted
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
    numbers: Optional[Sequence[int]] = None,
    stream: Optional[JobStream] = None,
) -> List[JobReturn]:
    """Run every point of one batch; returns their JobReturns in the order of `job_overrides`. Job numbers count from
    `initial_job_idx`, or are `numbers` (a resumed sweep's points, not 0..n-1). With a `stream` (an adaptive sweep's),
    more points follow without a batch barrier: a freed slot takes the stream's next ones, and the stream hears of
    each point as it ends; the returns are then every point's, in job-number order.

    The sweep folder is taken first (one sweep per folder), then each point is prepared as it is needed
    (gansweep.launch.prepare): composed, checked, its folder read. A point whose config cannot train is recorded failed
    and a finished one skipped, without a process; an error every point shares, or a resumed folder that is not this
    command's, stops the sweep before any point starts."""
    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    try:
        plan = plan_launch(settings, visible_gpus())  # a wrong setting fails here, before anything starts
    except ValueError as err:
        stop_with(str(err), err)
    own = is_gansweep_config(config)
    if own:
        claim_or_stop(sweep_dir, config)
    else:  # another Hydra app: its jobs as Hydra's launchers run them (no fusion, records or claims, no torch preload)
        plan = replace(plan, fuse=1, preload=[])
    if not job_overrides and stream is None:
        return []
    whole = own and (plan.fuse > 1 or has_points(sweep_dir))
    nums = list(numbers) if numbers is not None else list(range(initial_job_idx, initial_job_idx + len(job_overrides)))
    # as joblib and submitit send a job: cloudpickle (a task in __main__ or a closure goes by value; so does a class
    # Hydra's plugin scan has imported again), and every singleton, OmegaConf's resolvers (an app's own) included
    context = cloudpickle.dumps((hydra_context, task_function, Singleton.get_state()))
    pool = PointPool(Leases(plan.devices, plan.per_device), preload_list(plan.preload) if own else [])
    output = f"output in its folder's {CONSOLE_LOG}; " if own else ""
    how_many = f"up to {stream.total} points as slots free" if stream else f"{len(job_overrides)} points"
    log.info(f"Launching {how_many}, {plan.describe()}, each in its own process ({output}sweep folder {sweep_dir})")
    progress = Progress(stream.total if stream is not None else len(job_overrides))
    axes: Dict[int, str] = {}
    returns: Dict[int, JobReturn] = {}
    pending = PendingRecords()
    # points side by side, each taking that share of the cores (gansweep.threads): no more than a known batch holds
    at_once = plan.concurrency if stream is not None else min(plan.concurrency, len(job_overrides))

    def report(num: int, status: str, seconds: float) -> None:
        log.info(progress.finished(num, status, seconds, axes[num], len(pool.running)))

    def specs(overrides: Sequence[Sequence[str]], numbers: List[int], whole: bool) -> Iterator[PointSpec]:
        """The points to start, in order; the others are answered for as they come."""
        axes.update(zip(numbers, varying_overrides([filter_overrides(o) for o in overrides]), strict=True))
        swept = stream.swept if stream is not None else ()
        for point in prepare_points(hydra_context, config, overrides, numbers, whole, swept):
            if point.action != RUN:
                returns[point.num], status = unstarted(point, config, hydra_context.callbacks, pending)
                report(point.num, status, 0.0)
                if stream is not None:  # e.g. a trial a stopped sweep had finished but not yet told: told now
                    stream.ended(point.num, returns[point.num])
                continue
            assert point.config is not None and point.run_dir is not None
            point.run_dir.mkdir(parents=True, exist_ok=True)
            stamp = record_stamp(point.run_dir)
            spec = PointSpec(point.num, point.config, str(point.run_dir), stamp, context, os.getcwd(), at_once)
            yield replace(spec, capture=own)

    def on_end(ended: Ended) -> None:
        pending.retry()
        group, output = ended.spec, None
        if isinstance(group, GroupSpec):  # read once: its members' copies and the freed slots' trials'
            output = _attempt_output(Path(group.run_dir) / CONSOLE_LOG, group.log_start)
        for point_ended in split_group(ended, output):
            job_return, status = settle(point_ended, hydra_context.callbacks, pending, records=own)
            returns[point_ended.spec.num] = job_return
            report(point_ended.spec.num, status, ended.end - ended.start)
            if own:  # another app's sweep folder gets nothing of gansweep's
                _append_job_line(sweep_dir, point_ended, status)
            if stream is not None:
                stream.ended(point_ended.spec.num, job_return)
        if isinstance(group, GroupSpec) and group.refill is not None and stream is not None:
            for num, run_dir in stream.group_ended(group.refill, str(Path(group.run_dir) / CONSOLE_LOG)):
                status = record_status(run_dir)  # a point the group's process took for a freed slot
                _append_output(Path(run_dir), output or b"")  # the group's output, as its members get it
                axes[num] = f"(in a freed slot of #{group.num}'s group)"
                report(num, status, ended.end - ended.start)
                _append_job_line(sweep_dir, replace(ended, spec=_joined_spec(group, num, run_dir)), status)

    def jobs() -> Iterator[Spec]:
        """The batch's jobs, then (with a stream) the stream's, a fused group's worth at a time, pulled as slots free;
        fused: a chunk's points are all prepared first, as its groups depend on all of them."""
        chunks = [(list(job_overrides), nums, whole)] if job_overrides else []
        for overrides, numbers, check_whole in _chunks(chunks, stream, plan.fuse):
            points = specs(overrides, numbers, check_whole)
            if plan.fuse == 1:
                yield from points
                continue
            for spec in fused_specs(list(points), plan.fuse, bounded=stream is None):
                refill = stream.refill(spec.num) if isinstance(spec, GroupSpec) and stream is not None else None
                yield replace(spec, refill=refill) if refill is not None else spec

    try:
        with stop_on_signals():  # from the first preparation on: a stop while points are prepared ends cleanly too
            refills = plan.fuse > 1 and bool(getattr(stream, "refills", False))  # groups take trials as slots free
            pool.run(jobs(), on_end, lookahead=not refills)
    except SweepStopped as stopped:
        log.warning(
            f"{stopped}: its running points were stopped (each saved a checkpoint and recorded itself as "
            f"interrupted); `gansweep-resume {sweep_dir}` finishes the sweep"
        )
        pending.retry()
        if pending.records:
            log.error("records that could not be written:\n" + "\n".join(pending.unwritten()))
        raise SystemExit(128 + stopped.signum) from None
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    pending.finish()
    return [returns[num] for num in (sorted(returns) if stream is not None else nums)]


class JobStream(Protocol):
    """More points for a launch, decided as earlier ones end (gansweep.search.sweeper's trials)."""

    total: int  # how many points the stream expects to give, for the progress lines
    swept: Sequence[str]  # the keys its points vary (one point's error in them is its own, not the sweep's)

    def next_jobs(self, n: int) -> List[Tuple[int, List[str]]]:
        """Up to `n` (job number, overrides) to start now; none when the stream has no more."""

    def ended(self, num: int, job_return: JobReturn) -> None:
        """Point `num` ended with `job_return` (its record is written)."""

    def refill(self, num: int) -> Any:
        """For the fused group led by point `num`: what lets its freed slots take the stream's next points as it
        trains (gansweep.search.refill.RefillPlan), or None."""

    def group_ended(self, refill: Any, output: str) -> List[Tuple[int, Path]]:
        """A group given `refill` ended (its process's output in `output`): the points it took, (job number, run
        folder), are settled."""


def _chunks(
    first: List[Tuple[List[Sequence[str]], List[int], bool]], stream: Optional[JobStream], fuse: int
) -> Iterator[Tuple[List[Sequence[str]], List[int], bool]]:
    """The batch, then the stream's jobs up to `fuse` at a time (one fused group's worth), until it has no more."""
    yield from first
    while stream is not None:
        more = stream.next_jobs(fuse)
        if not more:
            return
        yield [overrides for _, overrides in more], [num for num, _ in more], False


def fused_specs(points: List[PointSpec], fuse: int, bounded: bool = False) -> List[Spec]:
    """The points in groups of up to `fuse` that differ only in fusible values (gansweep.run.fusion), each group
    one job; a point alone stays an ordinary job. Jobs in the order of their first points. `bounded`: these are all
    the sweep's jobs, so no more of them than there are run side by side (each takes a larger share of the cores)."""
    from gansweep.run.fusion import group_points

    groups = group_points([point.config for point in points], fuse)
    at_once = min([p.concurrency for p in points[:1]] + [len(groups)]) if bounded else None
    jobs: List[Spec] = []
    for group in groups:
        members = tuple(points[i] if at_once is None else replace(points[i], concurrency=at_once) for i in group)
        lead_log = Path(members[0].run_dir) / CONSOLE_LOG
        log_start = lead_log.stat().st_size if lead_log.is_file() else 0
        jobs.append(GroupSpec(members, log_start=log_start) if len(members) > 1 else members[0])
        if len(members) > 1:
            log.info(f"\tfused: #{', #'.join(str(p.num) for p in members)} train as one model")
    return jobs


def split_group(ended: Ended, output: Optional[bytes] = None) -> List[Ended]:
    """A group's end as each of its points' (its own result, or the group's error or death); the group's output
    (`output`, read from its first point's console.log when not given) is copied into every point's console.log. A
    point's end is itself."""
    if not isinstance(ended.spec, GroupSpec):
        return [ended]
    kind, payload = ended.message or (None, None)
    if output is None:
        output = _attempt_output(Path(ended.spec.run_dir) / CONSOLE_LOG, ended.spec.log_start)
    per_point = []
    for k, point in enumerate(ended.spec.points):
        message = ("result", payload[k]) if kind == "results" and payload is not None else ended.message
        if k:  # appended, as each attempt's output is: an earlier attempt's stays
            _append_output(Path(point.run_dir), output)
        per_point.append(replace(ended, spec=replace(point, lease=ended.spec.lease), message=message))
    return per_point


def _append_output(run_dir: Path, output: bytes) -> None:
    """The group's output appended to a point's console.log; a copy that cannot be written (a full disk) is a warning:
    the point's record matters, this copy does not."""
    try:
        with open(run_dir / CONSOLE_LOG, "ab") as fh:
            fh.write(output)
    except OSError as err:
        log.warning(f"{run_dir / CONSOLE_LOG}: {err}")


def _attempt_output(path: Path, start: int) -> bytes:
    """What the group's process wrote to its first point's console.log."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            return fh.read()
    except OSError:
        return b""


def _joined_spec(group: GroupSpec, num: int, run_dir: Path) -> PointSpec:
    """A point a refilled group took mid-fit, as its job line names it (the group's process, lease and times)."""
    return replace(group.points[0], num=num, run_dir=str(run_dir), lease=group.lease)


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
    try:
        with open(sweep_dir / JOBS_LOG, "a") as fh:
            fh.write(json.dumps(line) + "\n")
    except OSError as err:  # a full disk: the point's record matters, this line does not
        log.warning(f"{sweep_dir / JOBS_LOG}: {err}")
