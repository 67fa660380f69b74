"""Refill: an adaptive sweep's fused group gives each slot that frees (its trial pruned, diverged, failed or
finished) a new trial at the next rung boundary, without stopping the group (hydra/sweeper=adaptive under
gansweep's launcher, hydra.launcher.fuse > 1). The group's process asks the study itself, under the sweep folder's
ask lock, as SLURM workers do (gansweep.search.workers): the trial carries the process's name (RefillPlan.owner),
its point is composed as the launcher composes one, in its own folder with its own record, loggers and .hydra
files, and the process tells the study how each trial it asked ended (the sweep tells the group's first points', as
the group ends). The launcher settles what a lost process left.

A new trial fits the group: the values it cannot fuse (gansweep.run.fusion) are the group's own
(gansweep.search.fitting); once no trial fits, or the stop rule says stop, freed slots stay free. Its learning-rate
schedule (optim.decay) starts at its own iteration 0 (gansweep.optim.restart_schedule).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("gansweep")


@dataclass(frozen=True)
class RefillPlan:
    """What a fused group's process needs to refill its slots, handed to it by the launcher (pickled)."""

    workers: Any  # gansweep.search.workers.WorkerPlan: the study, its stop rule, a trial's overrides, the sweep folder
    master: DictConfig  # the sweep's config, from which a trial's point is composed
    owner: str  # the process's name in the study: the trials it asks carry it
    index: int = 0  # its sampler's seed offset (random, TPE)

    def bind(self, hydra_context: Any, task_function: Any) -> "BoundRefill":
        return BoundRefill(self, hydra_context, task_function)


def blocker(cfg: DictConfig) -> Optional[str]:
    """Why a group of points with config `cfg` cannot refill its slots, or None."""
    if not OmegaConf.select(cfg, "metrics.every", default=None):
        return "metrics.every is unset (no rungs)"
    return None


class BoundRefill:
    """A RefillPlan in the group's process, with Hydra's context (composition, callbacks): gansweep.run.group asks it
    for each fit's source and hands it the points that were in slots when their fit ended."""

    def __init__(self, plan: RefillPlan, hydra_context: Any, task_function: Any) -> None:
        self.plan, self.hydra_context, self.task_function = plan, hydra_context, task_function
        self._study: Any = None
        self.blocked: Optional[str] = None
        self.started: Dict[int, Tuple[Any, Any, Any]] = {}  # id(PointJob) -> (trial, JobReturn, held folder or None)
        self.job_logs: Dict[int, List[logging.Handler]] = {}  # id(PointJob) -> its job log's handlers, while it runs

    @property
    def study(self) -> Any:
        if self._study is None:
            from gansweep.search.quiet import quiet_libraries

            quiet_libraries()
            self._study = self.plan.workers.open_study(self.plan.index)
        return self._study

    def source(self, jobs: Sequence[Any], points: Sequence[Any]) -> Optional["GroupRefill"]:
        """The fit's refill source, or None when its points cannot refill (said once in the log)."""
        import optuna

        from gansweep.search.fitting import fixed_values, group_keys

        reason = blocker(jobs[0].cfg)
        if reason is not None:
            if self.blocked is None:
                log.info(f"adaptive sweep: freed slots of fused groups are not refilled: {reason}")
            self.blocked = reason
            return None
        fixed: Dict[str, Any] = {}
        if group_keys(self.plan.workers.space):  # the study varies values the group's trials must share
            number = OmegaConf.select(jobs[0].cfg, "search.trial", default=None)
            if number is None:  # not a trial of the study (its overrides come from elsewhere): its values unknown
                log.info("adaptive sweep: a fused group without search.trial is not refilled")
                return None
            fixed = fixed_values(self.params_of(int(number)), self.plan.workers.space)
        slots = list(zip(jobs, points, strict=True))
        turns = None if not fixed or isinstance(self.study.sampler, optuna.samplers.GridSampler) else len(slots)
        return GroupRefill(self, slots, int(jobs[0].cfg.metrics.every), fixed, turns)

    def params_of(self, number: int) -> Dict[str, Any]:
        """Trial `number`'s values in the study."""
        (trial,) = [t for t in self.study.get_trials(deepcopy=False) if t.number == number]
        return dict(trial.params)

    def after(self, jobs: Sequence[Any]) -> None:
        """Points it started that were in slots when their fit ended, their records written: told, let go."""
        for job in jobs:
            self.close(job)

    def close(self, job: Any) -> None:
        """A point's end: one this process started has its trial told, Hydra's on_job_end and its folder let go. A
        trial is told by the process that asked it (optuna 2's storage caches the trials a process asked, and would
        not see another's tell): the group's own points by the sweep, when the group's process ends."""
        from gansweep.hydra_job import sweeper_value
        from gansweep.launch.outcome import job_end
        from gansweep.record import objective
        from gansweep.search.workers import tell_record

        for handler in self.job_logs.pop(id(job), []):
            logging.getLogger().removeHandler(handler)
            handler.close()
        started = self.started.pop(id(job), None)
        if started is None:
            return
        trial, job_return, lock = started
        tell_record(self.study, self.plan.workers.settings, trial, job.run_dir)

        job_return.return_value = sweeper_value(objective(job.record), job.composed.hydra)
        job_end(self.hydra_context.callbacks, job.composed, job_return)
        if lock is not None:
            lock.release()

    def next_point(self, fixed: Dict[str, Any]) -> Optional[Tuple[Any, Any]]:
        """A new trial's point (PointJob, FitPoint) with the group's `fixed` values, asked of the study now; None when
        the stop rule says stop or no trial fits. A trial whose point cannot start is recorded failed, told so, and
        the next one asked."""
        import optuna

        from gansweep.launch.prepare import RUN, Preparer
        from gansweep.run.group import PointJob, end_point, join
        from gansweep.run.jobs import add_job_logs, start_job
        from gansweep.search.study import tell
        from gansweep.search.workers import RUN_DIR_ATTR, claim_new

        workers = self.plan.workers
        while True:
            trial = claim_new(self.study, workers, self.plan.owner, fixed)
            if trial is None:
                return None
            overrides = workers.overrides(trial)
            preparer = Preparer(self.hydra_context, self.plan.master, [overrides], list(workers.space.dimensions))
            prepared = preparer.prepare(overrides, trial.number)
            if prepared.action != RUN:
                self._not_started(trial, prepared)
                continue
            assert prepared.config is not None and prepared.run_dir is not None
            prepared.run_dir.mkdir(parents=True, exist_ok=True)
            trial.set_user_attr(RUN_DIR_ATTR, str(prepared.run_dir))  # the launcher finds it without composing
            job = PointJob.of(prepared.config)
            try:
                joined = join(job)
            except Exception as err:  # its folder is another process's: left untouched, the trial failed
                log.error(f"trial #{trial.number} cannot take a freed slot: {err}")
                tell(self.study, trial, state=optuna.trial.TrialState.FAIL)
                continue
            self.job_logs[id(job)] = add_job_logs([prepared.config])  # the group's log from now on, as a member's
            job_return = start_job(prepared.config, self.hydra_context.callbacks, self.task_function)
            self.started[id(job)] = (trial, job_return, joined[1] if joined is not None else None)
            if joined is None:  # recorded failed (its config would not build, its loggers would not open, ...)
                end_point(job)
                self.close(job)
                continue
            point = joined[0]
            log.info(f"adaptive sweep: trial #{trial.number} joins a running fused group ({job.run_dir})")
            return job, point

    def _not_started(self, trial: Any, prepared: Any) -> None:
        """A trial whose point failed before it started (its config, its folder): recorded as the launcher records
        such a point, then told."""
        from gansweep.launch.pending import PendingRecords
        from gansweep.launch.prepare import unstarted
        from gansweep.search.study import reopen
        from gansweep.search.workers import tell_record

        pending = PendingRecords()
        unstarted(prepared, self.plan.master, self.hydra_context.callbacks, pending)
        pending.finish()
        run_dir = prepared.run_dir or Path(self.plan.workers.run_dir(trial.number))
        tell_record(self.study, self.plan.workers.settings, reopen(self.study, trial._trial_id), run_dir)


class GroupRefill:
    """One fit's refill source (gansweep.callbacks.refill.RefillSource): the point in each slot, ending one (record,
    loggers, trial) and starting the next."""

    def __init__(
        self, bound: BoundRefill, slots: List[Tuple[Any, Any]], every: int, fixed: Dict[str, Any], turns: Optional[int]
    ) -> None:
        """`fixed`: the values every trial of the group shares; `turns`: how many new trials the group may take (None:
        while the study has fitting ones). A sampler other than the grid always has a fitting trial, so a group whose
        values are fixed takes as many as it has slots, then ends: the next group's values are the sampler's again."""
        self.bound, self.every, self.fixed, self.turns = bound, every, fixed, turns
        self.slots = slots  # (PointJob, FitPoint) per slot: the latest point each slot holds

    def ended(self, k: int, run: Any) -> None:
        from gansweep.run.group import end_point, settle_point

        job, _ = self.slots[k]
        settle_point(job, run.callbacks, run.view.module.health.points[k])
        end_point(job)
        self.bound.close(job)

    def failed(self, k: int, error: BaseException) -> None:
        from gansweep.run.group import end_point

        job, _ = self.slots[k]
        job.fail(error)
        end_point(job)
        self.bound.close(job)

    def next(self, k: int, at: int) -> Optional[Any]:
        if self.turns == 0:
            return None
        started = self.bound.next_point(self.fixed)
        if started is None:
            return None
        if self.turns is not None:
            self.turns -= 1
        self.slots[k] = started
        started[0].record["joined_at"] = at  # the group's generator iteration its slot took it at
        return started[1]
