"""`hydra/sweeper=adaptive`: an Optuna study over Hydra's sweep syntax whose trials are gansweep points. Each trial
reports its evaluations to the study from inside training (gansweep.callbacks.trial), and the study's pruner stops
hopeless ones there (recorded `pruned`, checkpoint kept); the sweep tells the study how each trial ended, read from
its metrics.json: ok -> its final metric, pruned -> pruned, diverged or failed -> failed (never NaN).

Under gansweep's launcher there is no batch barrier: each slot that frees takes the next trials at once, a fused
group's worth (`fuse`: trials that differ only in fusible values train as one group, and a pruned member leaves it
without stopping the others), and the study hears of each trial as its point ends. Under gansweep's SLURM launcher
the array's tasks are workers that pull trials from the study's storage the same way, until it is done, the sweep
waiting for them (gansweep.search.workers, gansweep.launch.slurm_workers). Under another launcher trials run in
batches of its concurrency. A trial's job number is its number in the study, so a resumed sweep (the same
command, or gansweep-resume) finds each trial's folder: trials still running when the sweep stopped continue from
their checkpoints first, and the study goes on where it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from gansweep.record import higher_is_better
from gansweep.search.quiet import quiet_libraries
from gansweep.search.settings import SearchSettings
from gansweep.search.space import SearchSpace, parse_space

log = logging.getLogger("gansweep")


class AdaptiveSweeper(Sweeper):
    def __init__(self, params: Optional[Dict[str, str]] = None, max_batch_size: Optional[int] = None, **search: Any):
        self.params = dict(params or {})
        self.max_batch_size = max_batch_size
        self.search = search  # gansweep.search.settings.SearchSettings' fields
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> Any:
        from gansweep.hydra_job import stop_with
        from gansweep.search.settings import SearchError

        try:
            return self._sweep(arguments)
        except (SearchError, TypeError) as err:  # a wrong setting: one line (HYDRA_FULL_ERROR=1: the traceback)
            if isinstance(err, TypeError) and "SearchSettings" not in str(err):
                raise
            stop_with(f"hydra/sweeper=adaptive: {err}", err)

    def _sweep(self, arguments: List[str]) -> Any:
        quiet_libraries()
        from gansweep.launch.slurm_workers import runs_study_workers
        from gansweep.search.budget import spending, stop_rule
        from gansweep.search.fitting import ask_fitting
        from gansweep.search.storage import storage_address
        from gansweep.search.study import open_study

        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # what gansweep-resume and the report read
        space = parse_space(self.params, arguments)
        settings = self._settings()
        _report_by(sweep_dir, str(settings.metric))
        first_eval, trial_iters = _rungs(self.config)
        study = open_study(settings, space, sweep_dir, first_eval, trial_iters)
        rule = stop_rule(settings, space)
        trial_overrides = _TrialOverrides(
            space, storage_address(settings.storage, sweep_dir), study.study_name, settings
        )
        log.info(
            f"adaptive sweep: study {study.study_name!r} ({settings.direction} {settings.metric}), "
            f"sampler {type(study.sampler).__name__}, pruner {type(study.pruner).__name__}"
        )
        if runs_study_workers(self.config):  # gansweep's SLURM launcher: array tasks pull the trials
            workers_returns = self._run_workers(study, space, rule, trial_overrides, settings)
            _summarise(sweep_dir, study, settings, spending(study, space, trial_iters))
            return [workers_returns]
        unfinished = _running(study)  # a resumed sweep's trials that were running: they continue first
        if hasattr(self.launcher, "stream"):  # gansweep's launcher: each freed slot takes the next trials at once
            trials = _Trials(
                study, space, rule, trial_overrides, unfinished, partial(self._tell, study, sweep_dir, settings)
            )
            trials.refill_plan = self._refill_plan(self._worker_plan(study, space, rule, trial_overrides, settings))
            trials.compose = self._composer(trial_overrides, space)
            self.launcher.stream = trials
            returns: List[Sequence[JobReturn]] = [self.launcher.launch([], initial_job_idx=0)]
            _summarise(sweep_dir, study, settings, spending(study, space, trial_iters))
            return returns
        returns = []
        while True:
            batch = unfinished[: self._batch_size()]
            unfinished = unfinished[len(batch) :]
            while len(batch) < self._batch_size() and not rule.should_stop(study):
                asked = ask_fitting(study, space, {})
                if asked is None:  # the grid has no point left
                    break
                batch.append(asked)
            if not batch:
                break
            results = self._launch([trial_overrides(t) for t in batch], [t.number for t in batch])
            for trial, result in zip(batch, results, strict=True):
                self._tell(study, sweep_dir, settings, trial, result)
            returns.append(results)
        _summarise(sweep_dir, study, settings, spending(study, space, trial_iters))
        return returns

    # -- the pieces ---------------------------------------------------------------------------------------------------
    def _settings(self) -> SearchSettings:
        """The settings, the metric and direction filled in: the points' headline metric (gansweep.record) and its
        direction, unless given."""
        assert self.config is not None
        fields = dict(self.search)
        settings = SearchSettings(**{**fields, "direction": fields.get("direction") or "minimize"})
        if settings.metric is None:
            from gansweep.run.build import headline

            settings = replace(settings, metric=headline(self.config))
        if not fields.get("direction"):
            settings = replace(settings, direction="maximize" if higher_is_better(str(settings.metric)) else "minimize")
        return settings

    def _batch_size(self) -> int:
        """Trials launched at once: max_batch_size, or the launcher's concurrency (gansweep's: its slots times its
        fused group size), else one."""
        if self.max_batch_size:
            return int(self.max_batch_size)
        assert self.config is not None
        launcher = self.config.hydra.launcher
        slots = int(launcher.get("workers") or launcher.get("n_jobs") or launcher.get("array_parallelism") or 1)
        return max(1, min(slots, 256) * int(launcher.get("fuse") or 1))

    def _launch(self, jobs: List[List[str]], numbers: List[int]) -> Sequence[JobReturn]:
        """One launch of the trials, each with its trial number as its job number (its folder)."""
        from gansweep.hydra_job import launch_numbered

        return [result for launched in launch_numbered(self.launcher, jobs, numbers) for result in launched]

    def _tell(self, study: Any, sweep_dir: Path, settings: SearchSettings, trial: Any, result: JobReturn) -> None:
        """The trial's end, as its record says (gansweep.search.workers.tell_record, the rule SLURM workers tell by):
        ok -> its final metric; pruned -> pruned; interrupted -> left running (a resume continues it); diverged,
        failed, a non-finite or missing value -> failed."""
        from gansweep.search.workers import run_dir_of, tell_record

        tell_record(study, settings, trial, run_dir_of(result, sweep_dir, trial.number))

    def _run_workers(
        self, study: Any, space: SearchSpace, rule: Any, overrides: "_TrialOverrides", settings: SearchSettings
    ) -> List[JobReturn]:
        """Under gansweep's SLURM launcher: the study's trials pulled by array tasks that work until the study is
        done (gansweep.search.workers), as many as the launcher's array_parallelism (or max_batch_size trials) allows,
        no more than the trials left need; trials a stopped sweep left running whose workers are gone are released
        to them first; a worker lost without a result has its trials failed. The JobReturns of the trials trained."""
        from gansweep.launch.prepare import claim_or_stop
        from gansweep.launch.slurm import fuse_setting
        from gansweep.launch.slurm_workers import alive_workers, run_workers
        from gansweep.search.workers import fail_lost, release

        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        launcher = self.launcher
        fuse = fuse_setting(launcher.params, self.config)
        plan = replace(self._worker_plan(study, space, rule, overrides, settings), fuse=fuse)
        claim_or_stop(sweep_dir, self.config)  # before the study's running trials are touched
        released = release(study, plan, alive_workers)
        if released:
            log.info(f"adaptive sweep: trial(s) {released} left running by a stopped sweep continue first")
        n_workers = self._workers(study, rule, fuse)
        compose = self._composer(overrides, space)
        refill = self._refill_plan(plan)  # each worker names it
        return run_workers(launcher, plan, n_workers, lambda over: fail_lost(study, plan, over, compose), refill)

    def _refill_plan(self, plan: Any) -> Any:
        """What lets fused groups refill their freed slots (gansweep.search.refill), its owner named per group or
        worker; None with hydra.sweeper.refill=false."""
        from gansweep.search.refill import RefillPlan

        assert self.config is not None
        return RefillPlan(plan, self.config, owner="") if plan.settings.refill else None

    def _worker_plan(
        self, study: Any, space: SearchSpace, rule: Any, overrides: "_TrialOverrides", settings: SearchSettings
    ) -> Any:
        """What a process that asks the study itself is given (a SLURM worker, a refilled group)."""
        from gansweep.search.workers import WorkerPlan

        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        return WorkerPlan(overrides.storage, study.study_name, settings, space, rule, overrides, str(sweep_dir))

    def _composer(self, overrides: "_TrialOverrides", space: SearchSpace) -> Any:
        """A trial -> its point's composed config and run folder, as the launcher composes it."""
        assert self.config is not None
        return partial(_trial_config, self.launcher.hydra_context, self.config, overrides, list(space.dimensions))

    def _workers(self, study: Any, rule: Any, fuse: int) -> int:
        """SLURM workers to start: enough for the trials launched at once (max_batch_size, else the launcher's
        array_parallelism groups of `fuse`), no more than the trials left (n_trials less the finished ones) need."""
        import optuna

        workers = math.ceil(self._batch_size() / fuse)
        if rule.n_trials is not None:
            trials = study.get_trials(deepcopy=False)
            running = optuna.trial.TrialState.RUNNING
            left = rule.n_trials - sum(t.state != running for t in trials)
            workers = min(workers, math.ceil(max(left, 0) / fuse))
        return workers


class _Trials:
    """The study's trials as gansweep's launcher pulls them (gansweep.launch.local.JobStream): a resumed sweep's
    running trials first, then new ones asked while the stop rule allows; each told as its point ends."""

    def __init__(
        self, study: Any, space: SearchSpace, rule: Any, overrides: Any, unfinished: List[Any], tell: Any
    ) -> None:
        self.study, self.space, self.rule, self.overrides, self.tell = study, space, rule, overrides, tell
        self.unfinished = list(unfinished)
        self.running: Dict[int, Any] = {}
        self.total = rule.n_trials or max(len(unfinished), 1)
        self.swept = list(space.dimensions)
        self.refill_plan: Any = None  # gansweep.search.refill.RefillPlan, unnamed: its groups refill their slots
        self.compose: Any = None  # a trial -> (its composed config, its run folder)

    def next_jobs(self, n: int) -> List[Tuple[int, List[str]]]:
        """Up to `n` trials, one fused group's worth: new ones fit the first (its non-fusible values fixed,
        gansweep.search.fitting). Asked under the sweep folder's ask lock: refilled groups ask the same study
        (gansweep.search.refill)."""
        from gansweep.search.fitting import ask_joining
        from gansweep.search.workers import ask_lock

        jobs: List[Tuple[int, List[str]]] = []
        plan = self.refill_plan
        with ask_lock(Path(plan.workers.sweep_dir)) if plan is not None else contextlib.nullcontext():
            while len(jobs) < n:
                if self.unfinished:
                    trial = self.unfinished.pop(0)
                elif not self.rule.should_stop(self.study):
                    trial = ask_joining(self.study, self.space, self.running[jobs[0][0]] if jobs else None)
                    if trial is None:  # no trial left that fits this group
                        break
                else:
                    break
                self.running[trial.number] = trial
                jobs.append((trial.number, self.overrides(trial)))
        return jobs

    def ended(self, num: int, result: JobReturn) -> None:
        self.tell(self.running.pop(num), result)

    @property
    def refills(self) -> bool:
        """Whether its fused groups refill their slots (the launcher then asks no trial before a slot frees)."""
        return self.refill_plan is not None

    def refill(self, num: int) -> Any:
        """The fused group led by trial `num` refills its freed slots itself (gansweep.search.refill)."""
        if self.refill_plan is None:
            return None
        return replace(self.refill_plan, owner=f"group of trial #{num} (sweep process {os.getpid()})", index=num + 1)

    def group_ended(self, refill: Any, output: str) -> List[Tuple[int, Path]]:
        """The trials a refilled group's process took, (number, run folder): those it left running settled
        (gansweep.search.workers.settle_owned)."""
        from gansweep.search.workers import settle_owned

        return settle_owned(self.study, refill.workers, refill.owner, output, self.compose)


class _TrialOverrides:
    """A trial's overrides: its values (and the fixed ones), and where its evaluations are reported."""

    def __init__(self, space: SearchSpace, storage: str, study: str, settings: SearchSettings) -> None:
        self.space, self.storage, self.study, self.metric = space, storage, study, settings.metric

    def __call__(self, trial: Any) -> List[str]:
        return [
            *self.space.overrides(trial.params),
            f"search.storage={_quoted(self.storage)}",
            f"search.study={_quoted(self.study)}",
            f"search.trial={trial.number}",
            f"search.metric={_quoted(str(self.metric))}",
        ]


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _running(study: Any) -> List[Any]:
    """Trials a stopped sweep left running, as trials to launch again (optuna.trial.Trial, in number order)."""
    from gansweep.search.study import reopen
    from gansweep.search.workers import running_trials

    return [reopen(study, t._trial_id) for t in running_trials(study)]


def _rungs(config: DictConfig) -> tuple:
    """(the first evaluation's generator iteration, a trial's budget): the pruner's first rung and its last."""
    iters = int(OmegaConf.select(config, "train.iters"))
    every = OmegaConf.select(config, "metrics.every", default=None)
    if not every:
        log.warning("metrics.every is unset: trials report only their final evaluation, so none can be pruned")
    return int(every or iters), iters


def _trial_config(
    context: HydraContext, config: DictConfig, overrides: "_TrialOverrides", swept: List[str], trial: Any
) -> Tuple[DictConfig, Path]:
    """A trial's point composed as the launcher composes it, and its run folder (for the record of a lost trial)."""
    from gansweep.launch.prepare import Preparer

    trial_overrides = overrides(trial)
    return Preparer(context, config, [trial_overrides], swept).point_config(trial_overrides, trial.number)


def _report_by(sweep_dir: Path, metric: str) -> None:
    """The sweep's report ranks by the study's metric, unless the user made it with options of their own."""
    from gansweep.report.write import report_options, save_report_options

    if not report_options(sweep_dir):
        save_report_options(sweep_dir, metric, None)


def _summarise(sweep_dir: Path, study: Any, settings: SearchSettings, spent: Any) -> None:
    """The study's outcome in the sweep folder (gansweep.studies.SUMMARY, built by gansweep.search.summary from the
    study's storage read afresh), which the report shows, and in the log."""
    from gansweep.search.budget import Spending
    from gansweep.search.storage import storage_address
    from gansweep.search.summary import write_summary

    address = storage_address(settings.storage, sweep_dir)
    summary = write_summary(sweep_dir, study, settings.metric, settings.direction, spent.grid, address)
    log.info(f"adaptive sweep: {Spending(summary['spent'], summary['grid'])}")
    best = summary["best"]
    if best is not None:
        log.info(
            f"adaptive sweep: best trial #{best['trial']}, {settings.metric} = {best['value']:.4g}: {best['params']}"
        )
