"""The one run path, for K >= 1 points (a single run is the group of one): plan -> open -> build -> fit -> settle ->
write. Each step is per point: a point whose folder belongs to another point, whose config fails to build, whose
folder or logger cannot open, whose callbacks raise or whose own values make a step raise is recorded failed with its
own error and leaves the group; the others train on. Every point keeps its own config.yaml, loggers, callbacks and
metrics.json, and a finished point is skipped, an interrupted one resumed (gansweep.run.plan).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from traceback import format_exc
from typing import Any, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from gansweep.hydra_job import hydra_config, output_dir, task_config
from gansweep.record import (
    CheckpointUnreadable,
    checkpoint_iteration,
    keep_unwritten,
    new_record,
    objective,
    write_record,
)
from gansweep.run.plan import SKIP, Plan, plan_run, prepare
from gansweep.signals import StopSignals, stop_requested

log = logging.getLogger("gansweep")
HOLD_WAIT_S = 30  # how long a point waits for a process still stopping in its folder (the launcher's stop grace)


@dataclass
class PointJob:
    """A point as the run path takes it: its task config, its hydra node and run folder, and, when it is not the
    Hydra config current already, its whole composed config (made current while the point's own steps run)."""

    cfg: DictConfig
    hydra: DictConfig
    run_dir: Path
    composed: Optional[DictConfig] = None
    plan: Optional[Plan] = None
    record: Dict[str, Any] = field(default_factory=dict)
    loggers: List[Any] = field(default_factory=list)
    error: Optional[BaseException] = None  # what failed it, raised again after its record in a single run
    settled: bool = False  # its record is written and its loggers closed (a refilled group's point ended mid-fit)
    started: float = field(default_factory=time.perf_counter)  # when it began training: its record's wall time

    @classmethod
    def of(cls, composed: DictConfig) -> "PointJob":
        """A point as a launcher composed it (hydra node included)."""
        return cls(task_config(composed), composed.hydra, output_dir(composed), composed)

    def fail(self, err: BaseException, trace: Optional[str] = None) -> None:
        """Record the point failed with `err` (inside its except block: the traceback is the current one)."""
        self.error = err
        self.record.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=trace or format_exc())


def train_group(configs: Sequence[DictConfig], refill: Any = None) -> List[Any]:
    """The points of one job (their composed configs, hydra node included): per point, its objective, or the exception
    that kept it from being planned (a folder of another point, an unreadable checkpoint). Training errors never
    escape: every point's metrics.json records what happened. `refill`: see run_jobs."""
    return run_jobs([PointJob.of(config) for config in configs], refill=refill)


def run_jobs(
    jobs: Sequence[PointJob], progress: bool = False, raise_failure: bool = False, refill: Any = None
) -> List[Any]:
    """Plan every point; train those to train, the points that start at one generator iteration together (fresh, or
    resumed from their own checkpoints); a stop signal leaves the unstarted ones interrupted where they stood.
    `raise_failure` (a single run): a failed point's error is raised once it is recorded. `refill` (an adaptive
    sweep's, gansweep.search.refill.BoundRefill): each fit's freed slots take new trials as it trains."""
    locks = []
    try:
        values: Dict[int, Any] = {}
        todo: List[int] = []
        for i, job in enumerate(jobs):
            try:
                locks.append(_hold(job.run_dir))
                job.plan = _plan(job)
            except CheckpointUnreadable as err:  # recorded: resume.failed=rerun starts it afresh
                values[i] = _unreadable(job, err)
                continue
            except Exception as err:  # this point only: its folder is left as it is
                log.error("%s", err)
                values[i] = err
                continue
            if job.plan.action == SKIP:
                log.info("skipped: %s is %s", job.run_dir, job.plan.reason)
                values[i] = objective(job.plan.record or {})
            else:
                log.info("%s: %s", job.run_dir, job.plan.reason)
                prepare(job.run_dir, job.plan)
                todo.append(i)
        with StopSignals() as stop:
            for start in sorted({_start(jobs[i]) for i in todo}):
                members = [i for i in todo if _start(jobs[i]) == start]
                train_points([jobs[i] for i in members], progress, refill)
                values.update((i, objective(jobs[i].record)) for i in members)
                if stop_requested():  # the others stay unstarted, recorded so: running the sweep again trains them
                    for i in (i for i in todo if i not in values):
                        values[i] = objective(_unstarted(jobs[i]))
                    break
        stop.forward()
    finally:
        for lock in locks:
            lock.release()
    failure = next((jobs[i].error for i in todo if jobs[i].error is not None), None) if raise_failure else None
    if failure is not None:
        raise failure
    return [values[i] for i in range(len(jobs))]


def _hold(run_dir: Path) -> Any:
    """The run folder for this process: a process still stopping in it (a launcher killed a moment ago) is waited
    for; a live one is refused (FolderBusy names it), the folder untouched."""
    from gansweep.lock import describe_holder, hold

    def waiting(holder: Dict[str, Any]) -> None:
        log.warning(
            "%s is held by %s: waiting up to %d s for it to stop", run_dir, describe_holder(holder), HOLD_WAIT_S
        )

    return hold(run_dir, "training its point", wait_s=HOLD_WAIT_S, on_wait=waiting)


def _plan(job: PointJob) -> Plan:
    """What to do with the point's folder: resume.failed and resume.changed applied, its config identity checked."""
    from gansweep.record import identity

    failed = getattr(job.cfg.resume.failed, "value", job.cfg.resume.failed)  # the enum, or its name
    changed = getattr(job.cfg.resume.get("changed", "refuse"), "value", job.cfg.resume.get("changed", "refuse"))
    overrides = list(job.hydra.overrides.task)
    return plan_run(job.run_dir, overrides, str(failed), job.cfg.train.iters, identity(job.cfg), str(changed))


def _unreadable(job: PointJob, err: Exception) -> float:
    """A point whose checkpoint cannot be read: recorded failed with the file's name and error, left for a rerun."""
    job.record = new_record(job.hydra, job.cfg)
    job.fail(err)
    job.record["error"] = f"{err}. resume.failed=rerun trains the point again from scratch"
    log.error("%s", job.record["error"])
    try:
        write_record(job.run_dir, job.record)
    except OSError as write_err:
        log.error("%s: its record could not be written (%s)", job.run_dir, write_err)
        keep_unwritten(job.run_dir, job.record)
    return objective(job.record)


def train_points(jobs: Sequence[PointJob], progress: bool = False, refill: Any = None) -> None:
    """Open, build, fit, settle and write the points of one start iteration; each job's record says how it ended."""
    start = time.perf_counter()
    fits: List[Any] = []
    for job in jobs:
        job.started = start
        with hydra_config(job.composed):  # its config.yaml, loggers and callbacks read `${hydra:...}` as its own
            built = _build(job) if _open(job) else None
        if built is not None:
            fits.append((job, built))
    for job in jobs if len(jobs) > 1 else ():
        for logger in job.loggers:
            if hasattr(logger, "alongside"):  # W&B: each point its own run, open at once in this process
                logger.alongside = True
    joined: List[PointJob] = []  # points that took freed slots mid-fit (refill), still to settle
    for subgroup in _fusible(fits):
        joined.extend(_fit(subgroup, progress and len(fits) == 1, refill))
    ending = [job for job in jobs if not job.settled]
    for job in [*ending, *joined]:  # every record on disk first: closing W&B runs may take long
        _write(job)
    from gansweep.loggers.build import close_loggers

    for k, job in enumerate([*ending, *joined]):
        close_loggers(job.loggers, job.record, finish_others=k == len(ending) + len(joined) - 1)
    if refill is not None:
        refill.after(joined)  # their trials told, their folders let go


def _write(job: PointJob) -> None:
    try:
        write_point(job.run_dir, job.record, time.perf_counter() - job.started)
    except OSError as err:  # this point's folder only: the others' records are still written
        log.error("%s: its record could not be written (%s: %s)", job.run_dir, type(err).__name__, err)
        keep_unwritten(job.run_dir, job.record)  # handed to the launcher, which keeps retrying


def join(job: PointJob) -> Optional[Any]:
    """A point that takes a freed slot of a running fit (an adaptive sweep's refill): its folder held and planned,
    its record, config.yaml and loggers opened and its parts built as a group's own point's are; (its FitPoint, the
    held folder), or None when it failed (its record says why; the folder is let go). A folder another live process
    holds raises (FolderBusy), untouched."""
    lock = _hold(job.run_dir)
    try:
        job.plan = _plan(job)
        prepare(job.run_dir, job.plan)
        with hydra_config(job.composed):
            built = _build(job) if _open(job) else None
    except Exception as err:
        job.record = job.record or new_record(job.hydra, job.cfg)
        job.fail(err)
        built = None
    if built is None:
        lock.release()
        return None
    job.started = time.perf_counter()
    for logger in job.loggers:
        if hasattr(logger, "alongside"):  # W&B: its run open beside the group's
            logger.alongside = True
    return built[0], lock


def settle_point(job: PointJob, callbacks: Sequence[Any], health: Any) -> None:
    """The point's record from its evaluations and its status in the fit (gansweep.model.health.PointStatus)."""
    from gansweep.callbacks.evaluation import collect_metrics, collect_protocols

    job.record.update(metrics=collect_metrics(callbacks), protocol=collect_protocols(callbacks))
    job.record.update(health.record_fields())
    job.error = health.exception


def end_point(job: PointJob, finish_others: bool = False) -> None:
    """A point whose run ended while its fit goes on: its record written and its loggers closed now."""
    from gansweep.loggers.build import close_loggers

    _write(job)
    close_loggers(job.loggers, job.record, finish_others=finish_others)
    job.settled = True


def _open(job: PointJob) -> bool:
    """The point's record (failed until its fit says otherwise), config.yaml and loggers, first, so that a later
    failure still has its W&B run; a failure here is recorded."""
    from gansweep.loggers.build import build_loggers
    from gansweep.loggers.identity import point_identity

    checkpoint = job.plan.checkpoint if job.plan is not None else None
    job.record = new_record(job.hydra, job.cfg)
    job.record["resumed_from"] = checkpoint_iteration(checkpoint) if checkpoint is not None else None
    try:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        (job.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(job.cfg, resolve=True))
        job.loggers = build_loggers(job.cfg, lambda: point_identity(job.cfg, job.hydra))
    except Exception as err:
        job.fail(err)
        return False
    return True


def _build(job: PointJob) -> Optional[Any]:
    """The point's FitPoint and loss; a point whose config fails to build is recorded failed (the others go on)."""
    from gansweep.run.build import build_point, point_callbacks
    from gansweep.run.fit import FitPoint

    try:
        datamodule, loss, point = build_point(job.cfg)
        callbacks = point_callbacks(job.cfg)
    except Exception as err:
        job.fail(err)
        return None
    checkpoint = job.plan.checkpoint if job.plan is not None else None
    return FitPoint(point, datamodule, callbacks, job.loggers, checkpoint), loss


def _fusible(fits: List[Any]) -> List[List[Any]]:
    """The built points in groups that can share a fit (gansweep.run.fusion.fit_groups)."""
    from gansweep.run.fusion import fit_groups

    return [[fits[i] for i in group] for group in fit_groups([job.cfg for job, _ in fits])] if fits else []


def _fit(subgroup: List[Any], progress: bool, refill: Any = None) -> List[PointJob]:
    """One fit of the subgroup's points; each record receives its g_iters, metrics, protocol and status. With
    `refill`, freed slots take new points as it trains: those still in their slots at its end are returned (their
    records filled in, to write)."""
    from gansweep.run.build import module_options
    from gansweep.run.fit import FitSettings, fit

    lead = subgroup[0][0]
    points = [built[0] for _, built in subgroup]
    source = refill.source([job for job, _ in subgroup], points) if refill is not None else None
    try:
        with hydra_config(lead.composed):
            settings = FitSettings.of(lead.cfg, str(lead.run_dir), progress)
            options = module_options(lead.cfg)
        module = fit(points, subgroup[0][1][1], options, settings, source)
    except Exception as err:  # the fit could not start (a wrong train.* range, an option): every point fails with it
        for job, _ in subgroup:
            job.fail(err)
        return []
    slots = source.slots if source is not None else [(job, built[0]) for job, built in subgroup]
    for k, (job, point) in enumerate(slots):
        if not job.settled:
            settle_point(job, point.callbacks, module.health.points[k])
    originals = {id(job) for job, _ in subgroup}
    return [job for job, _ in slots if id(job) not in originals and not job.settled]


def write_point(run_dir: Path, record: Dict[str, Any], wall_time_s: float) -> None:
    """Say how the point ended and write its metrics.json."""
    if record["status"] == "diverged":
        record["error"] = f"non-finite loss at generator iteration {record['diverged_at']}"
        log.warning("run diverged: %s", record["error"])
    elif record["status"] == "interrupted":
        log.warning("run interrupted after generator iteration %d; run the same command to resume", record["g_iters"])
    elif record["status"] == "failed":
        log.error("run failed: %s", record["error"])
    record["wall_time_s"] = round(wall_time_s, 3)
    write_record(run_dir, record)
    log.info("status=%s metrics=%s -> %s", record["status"], record["metrics"], run_dir / "metrics.json")


def _unstarted(job: PointJob) -> Dict[str, Any]:
    """The record of a point a stop signal kept from starting: interrupted where it stood."""
    record = new_record(job.hydra, job.cfg)
    record.update(status="interrupted", g_iters=_start(job), resumed_from=None)
    write_record(job.run_dir, record)
    return record


def _start(job: PointJob) -> int:
    return checkpoint_iteration(job.plan.checkpoint if job.plan is not None else None)
