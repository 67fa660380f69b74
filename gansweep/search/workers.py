"""Study workers: processes that each pull trials from an adaptive sweep's shared study until it is done, the SLURM
array tasks of `hydra/sweeper=adaptive hydra/launcher=slurm` (gansweep.launch.slurm_workers); and the one rule by
which a trial's record becomes its state in the study (tell_record), for them and for the sweeper.

Pulling. A worker claims trials under the sweep folder's ask lock (an OS file lock, ASK_LOCK: the stop rule's count
and the grid sampler's choice of an unvisited point are then never raced), `fuse` at a time (a fused group's worth):
first the trials the study holds as running under its own name (OWNER_ATTR, its SLURM job id, which a requeued task
keeps), which it resumes from their checkpoints (the run path resumes a point from its folder); then trials released
by a stopped sweep (RELEASED: their worker is gone), which continue from theirs; then new ones while the stop rule
allows. Each claimed trial carries its worker's name.

Lost workers. A worker that ends without telling its trials (cancelled, its node lost, killed) leaves them running
under its name; whoever watches the workers (the submitting sweeper, which asks SLURM) calls fail_lost once the
worker is over: a trial whose record says it ended is told from it, one whose run folder a live process still holds
is left, and the others are recorded failed (an interrupted record's progress and its checkpoint kept) and told so.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from omegaconf import DictConfig, OmegaConf

from gansweep.search.budget import StopRule
from gansweep.search.fitting import ask_fitting, ask_joining
from gansweep.search.settings import SearchSettings
from gansweep.search.space import SearchSpace

log = logging.getLogger("gansweep")

OWNER_ATTR = "gansweep_worker"  # a trial's user attribute: the worker that runs it (its SLURM job id, ARRAY_TASK)
RELEASED = ""  # the owner of a running trial whose worker is gone: the next worker to ask continues it
RUN_DIR_ATTR = "gansweep_run_dir"  # a trial's user attribute: its run folder, set by the process that started it
ASK_LOCK = Path(".gansweep") / "ask"  # in the sweep folder: the folder whose lock (gansweep.lock) a claim holds
ASK_WAIT_S = 600.0  # how long a claim waits for another's

_in_process = threading.Lock()  # gansweep.lock is re-entrant within a process: threads are kept apart by this


@contextlib.contextmanager
def ask_lock(sweep_dir: Path) -> Iterator[None]:
    """Held while trials are claimed, released or failed as lost: one process (and one thread) at a time."""
    from gansweep.lock import hold

    with _in_process:
        lock = hold(Path(sweep_dir) / ASK_LOCK, "a study worker asking for trials", wait_s=ASK_WAIT_S)
        try:
            yield
        finally:
            lock.release()


def run_dir_of(result: Any, sweep_dir: Path, number: int) -> Path:
    """A trial's run folder: its job's output_dir, else the sweep's default subdir (its job number)."""
    hydra = getattr(result, "hydra_cfg", None)
    output = OmegaConf.select(hydra, "hydra.runtime.output_dir", default=None) if hydra is not None else None
    return Path(str(output)) if output else Path(sweep_dir) / str(number)


def tell_record(study: Any, settings: SearchSettings, trial: Any, run_dir: Path) -> Optional[str]:
    """Tell the study how `trial` (an optuna.trial.Trial) ended, as its record in `run_dir` says: ok -> its final
    metric; pruned -> pruned; interrupted -> left running (a resume or its requeued worker continues it); diverged,
    failed, a non-finite or missing value -> failed. The record's generator iterations are kept on the trial (what it
    spent, gansweep.search.budget). A trial the study holds as finished already is left as it is. Returns the
    record's status (None: no record)."""
    import optuna

    from gansweep.record import read_record
    from gansweep.search.budget import ITERS_ATTR
    from gansweep.search.study import tell

    record = read_record(run_dir) or {}
    status = record.get("status")
    states = optuna.trial.TrialState
    if study._storage.get_trial(trial._trial_id).state.is_finished():  # told by the process that ran it (refill)
        log.debug(f"trial {trial.number} is finished in the study already; its record ({status}) is not told again")
        return status
    if isinstance(record.get("g_iters"), int):
        trial.set_user_attr(ITERS_ATTR, record["g_iters"])
    if status == "interrupted":
        return status
    if status == "pruned":
        tell(study, trial, state=states.PRUNED)
        return status
    value = (record.get("metrics") or {}).get(str(settings.metric))
    if status == "ok" and isinstance(value, (int, float)) and math.isfinite(value):
        tell(study, trial, float(value))
    else:
        tell(study, trial, state=states.FAIL)
    return status


@dataclass(frozen=True)
class WorkerPlan:
    """What every worker of a study is given: where the study is, how to ask it and when to stop, each trial's
    overrides (gansweep.search.sweeper._TrialOverrides), the sweep folder and how many trials train as one group."""

    storage: str  # the study's storage address (gansweep.studies.open_storage)
    study_name: str
    settings: SearchSettings
    space: SearchSpace
    rule: StopRule
    overrides: Callable[[Any], List[str]]
    sweep_dir: str
    fuse: int = 1

    def open_study(self, index: int) -> Any:
        """The study, with this worker's sampler (its own seed where one seed would make every worker propose the same
        values: random, TPE; the grid and QMC samplers keep the sweep's, as their choices depend on the study)."""
        import optuna

        from gansweep.search.compat import experimental
        from gansweep.search.samplers import make_sampler, sampler_name
        from gansweep.studies import open_storage

        seed = self.settings.seed
        if seed is not None and sampler_name(self.settings.sampler, self.space) in ("random", "tpe"):
            seed += index
        with experimental():
            sampler = make_sampler(self.settings.sampler, self.space, seed)
        return optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage), sampler=sampler)

    def run_dir(self, number: int) -> Path:
        return Path(self.sweep_dir) / str(number)


def owner_of(trial: Any) -> str:
    """The worker a running trial is claimed by; RELEASED when none is (a stopped sweep's, or one from another
    launcher)."""
    return str(trial.user_attrs.get(OWNER_ATTR, RELEASED))


def running_trials(study: Any) -> List[Any]:
    """The study's running trials (frozen), in number order."""
    import optuna

    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return sorted(trials, key=lambda t: t.number)


def claim(study: Any, plan: WorkerPlan, worker: str, n: int) -> List[Any]:
    """Up to `n` trials for `worker` to train now (optuna.trial.Trial, each claimed under its name): all those it
    holds already (a requeued worker's), then released ones, then new ones while the stop rule allows. None: the
    study is done for this worker."""
    from gansweep.search.study import reopen

    with ask_lock(Path(plan.sweep_dir)):
        running = running_trials(study)
        mine = [t for t in running if owner_of(t) == worker]
        released = [t for t in running if owner_of(t) == RELEASED]
        trials = [reopen(study, t._trial_id) for t in mine]
        for frozen in released[: max(0, n - len(trials))]:
            trial = reopen(study, frozen._trial_id)
            trial.set_user_attr(OWNER_ATTR, worker)
            trials.append(trial)
        while len(trials) < n and not plan.rule.should_stop(study):
            asked = ask_joining(study, plan.space, trials[0] if trials else None)
            if asked is None:  # no trial left that fits the group the first one leads
                break
            asked.set_user_attr(OWNER_ATTR, worker)
            trials.append(asked)
    return trials


def claim_new(study: Any, plan: WorkerPlan, worker: str, fixed: Mapping[str, Any]) -> Optional[Any]:
    """One new trial for `worker` (a refilled slot's, gansweep.search.refill) with the group's `fixed` values, asked
    under the ask lock while the stop rule allows; None once it says stop or no trial fits. Trials left running are
    not its to take: the sweep continues them."""
    with ask_lock(Path(plan.sweep_dir)):
        if plan.rule.should_stop(study):
            return None
        trial = ask_fitting(study, plan.space, fixed)
        if trial is not None:
            trial.set_user_attr(OWNER_ATTR, worker)
    return trial


Train = Callable[[List[Tuple[int, List[str]]]], Sequence[Any]]  # (trial number, overrides) -> a JobReturn each


def work(study: Any, plan: WorkerPlan, worker: str, train: Train) -> List[Any]:
    """A worker's life: claim trials, train them (`train`: gansweep's run path, a group of up to `fuse` at a time),
    tell the study how each ended, until the study has no more for it. A trial recorded interrupted (its process was
    told to stop: a requeue continues it) ends the worker, the trial left running under its name. The JobReturns of
    the trials it trained, in order."""
    returns: List[Any] = []
    while True:
        trials = claim(study, plan, worker, plan.fuse)
        if not trials:
            log.info(f"worker {worker}: the study has no more trials for it; {len(returns)} trained")
            return returns
        log.info(f"worker {worker}: trial(s) {', '.join(f'#{t.number}' for t in trials)}")
        results = list(train([(trial.number, plan.overrides(trial)) for trial in trials]))
        interrupted = []
        for trial, result in zip(trials, results, strict=True):
            status = tell_record(study, plan.settings, trial, run_dir_of(result, Path(plan.sweep_dir), trial.number))
            if status == "interrupted":
                interrupted.append(trial.number)
        returns.extend(results)
        if interrupted:
            log.warning(f"worker {worker}: stopped; trial(s) {interrupted} left running for it to continue")
            return returns


def release(study: Any, plan: WorkerPlan, alive: Callable[[Set[str]], Optional[Set[str]]]) -> List[int]:
    """Before a sweep starts its workers: the running trials whose workers are gone (`alive` names those of the given
    workers still queued or running; None: it cannot tell, and nothing is released) are released for the new workers
    to continue first. Returns their numbers."""
    with ask_lock(Path(plan.sweep_dir)):
        running = running_trials(study)
        owners = {owner_of(t) for t in running} - {RELEASED}
        live = alive(owners) if owners else set()
        if live is None:
            log.warning(f"cannot tell whether the workers {sorted(owners)} still run: their trials stay theirs")
            return []
        released = []
        for frozen in running:
            owner = owner_of(frozen)
            if owner == RELEASED:
                continue
            if owner in live:
                log.warning(f"trial {frozen.number} is still run by worker {owner} of an earlier sweep: left to it")
                continue
            study._storage.set_trial_user_attr(frozen._trial_id, OWNER_ATTR, RELEASED)
            released.append(frozen.number)
    return released


Compose = Callable[[Any], Tuple[DictConfig, Path]]  # a trial -> its point's composed config and run folder


def fail_lost(
    study: Any,
    plan: WorkerPlan,
    over: Mapping[str, str],
    compose: Optional[Compose] = None,
    describe: Callable[[str], str] = lambda owner: f"SLURM job {owner}",
) -> List[int]:
    """The running trials of the workers in `over` (worker -> its output file), which are over: a trial whose record
    says it ended is told from it; one whose run folder a live process holds (gansweep.lock) is left for now; the
    others are recorded failed, naming the worker and its output (an interrupted record's progress is kept, and the
    checkpoint stays), and told failed. `compose` gives a trial's composed config and run folder, for the record of
    a trial that wrote none. Returns the numbers of the trials told."""
    from gansweep.lock import holder_of
    from gansweep.record import FINISHED, read_record, write_record
    from gansweep.search.study import reopen

    told = []
    with ask_lock(Path(plan.sweep_dir)):
        for frozen in running_trials(study):
            owner = owner_of(frozen)
            if owner not in over:
                continue
            config, run_dir = _composed(frozen, plan, compose)
            if holder_of(run_dir) is not None:
                continue
            try:
                record = read_record(run_dir)
            except ValueError:  # cut short by the kill: replaced by the failed record
                record = None
            if record is None or record.get("status") not in (*FINISHED, "failed"):
                error = (
                    f"its worker, {describe(owner)}, ended without finishing it (cancelled, its node lost, or "
                    f"killed); its output: {over[owner]}"
                )
                overrides = plan.overrides(frozen)
                run_dir.mkdir(parents=True, exist_ok=True)  # a worker lost before the trial's folder was made
                write_record(run_dir, _lost_record(record, config, overrides, error, over[owner]))
                log.error(f"trial {frozen.number}: {error}; recorded failed in {run_dir}")
            trial = reopen(study, frozen._trial_id)
            tell_record(study, plan.settings, trial, run_dir)
            told.append(frozen.number)
    return told


def settle_owned(
    study: Any, plan: WorkerPlan, owner: str, output: str, compose: Optional[Compose] = None
) -> List[Tuple[int, Path]]:
    """After a refilled group's process ended (gansweep.search.refill): its trials still running are released when
    their records say interrupted (the sweep was stopped: a resume continues them), the others settled as fail_lost
    settles a lost worker's. Returns every trial it took, (number, run folder), in number order."""
    from gansweep.launch.outcome import record_status

    owned = sorted((t for t in study.get_trials(deepcopy=False) if owner_of(t) == owner), key=lambda t: t.number)
    folders = [(t.number, _run_dir(t, plan, compose)) for t in owned]
    with ask_lock(Path(plan.sweep_dir)):
        for frozen, (_, run_dir) in zip(owned, folders, strict=True):
            if not frozen.state.is_finished() and record_status(run_dir) == "interrupted":
                study._storage.set_trial_user_attr(frozen._trial_id, OWNER_ATTR, RELEASED)
    fail_lost(study, plan, {owner: output}, compose, describe=lambda name: f"the {name}")
    return folders


def _run_dir(trial: Any, plan: WorkerPlan, compose: Optional[Compose]) -> Path:
    """The trial's run folder: as the process that started it said (RUN_DIR_ATTR), else composed again."""
    if RUN_DIR_ATTR in trial.user_attrs:
        return Path(trial.user_attrs[RUN_DIR_ATTR])
    return _composed(trial, plan, compose)[1]


def _composed(frozen: Any, plan: WorkerPlan, compose: Optional[Compose]) -> Tuple[Optional[DictConfig], Path]:
    """The trial's composed config and run folder; without them (no `compose`, or it failed) the sweep's default
    run folder (its number)."""
    if compose is not None:
        try:
            config, run_dir = compose(frozen)
            return config, Path(run_dir)
        except Exception as err:
            log.warning(f"trial {frozen.number}: its config did not compose again ({type(err).__name__}: {err})")
    return None, plan.run_dir(frozen.number)


def _lost_record(
    record: Optional[Dict[str, Any]], config: Optional[DictConfig], overrides: List[str], error: str, log_path: str
) -> Dict[str, Any]:
    """A lost trial's failed record: the interrupted one it wrote, with its progress (g_iters, metrics), or a new
    one (gansweep.launch.outcome.lost_record; with no config, what the study knows of it)."""
    if record is not None:
        g_iters = record.get("g_iters")
        kept = f" (its checkpoint at generator iteration {g_iters} is kept)" if g_iters else ""
        return {**record, "status": "failed", "error": error + kept, "log": log_path}
    if config is not None:
        from gansweep.launch.outcome import lost_record

        return lost_record(config, error, None, log_path, {})
    return {
        "status": "failed",
        "error": error,
        "g_iters": None,
        "wall_time_s": None,
        "metrics": {},
        "protocol": {},
        "choices": {},
        "overrides": overrides,
        "seed": None,
        "log": log_path,
    }
