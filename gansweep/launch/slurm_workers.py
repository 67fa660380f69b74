"""The workers of an adaptive sweep on SLURM (`hydra/sweeper=adaptive hydra/launcher=slurm`): array tasks that each
pull trials from the study's shared storage, train them as a task trains grid points (gansweep.launch.slurm
train_points: `fuse` at a time as one group), tell the study how each ended, and take the next until the study is
done; a requeued worker continues its own trials from their checkpoints. The sweep waits for them, asking squeue (no
accounting needed): a worker out of the queue without a result is lost, and its trials are failed
(gansweep.search.workers.fail_lost).
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Set

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from omegaconf import DictConfig

from gansweep.launch.slurm import first_line, slurm_executor

log = logging.getLogger(__name__)

STUDY_LAUNCHER = "hydra_plugins.gansweep_launcher.slurm.GansweepSlurmLauncher"
POLL_S = 3.0  # how often the sweep asks SLURM about its workers
LOST_AFTER_S = 10.0  # a worker out of the queue (no result) this long is over: SLURM's own transitions take less
# what squeue says of a job that will not run again; any other state (pending, running, completing, requeued, held,
# suspended...) is a worker that may still tell its trials
ENDED_STATES = frozenset(
    "BOOT_FAIL CANCELLED COMPLETED DEADLINE FAILED NODE_FAIL OUT_OF_MEMORY PREEMPTED REVOKED SPECIAL_EXIT "
    "TIMEOUT".split()
)


def runs_study_workers(config: DictConfig) -> bool:
    """Whether the sweep's launcher is gansweep's SLURM launcher (an adaptive sweep then runs workers on it)."""
    from omegaconf import OmegaConf

    return OmegaConf.select(config, "hydra.launcher._target_", default=None) == STUDY_LAUNCHER


def run_workers(launcher: Any, plan: Any, n_workers: int, on_over: Any, refill: Any = None) -> List[JobReturn]:
    """Submit `n_workers` array tasks, each a worker of the study (gansweep.launch.slurm_task.StudyWorker, with the
    launcher's resources; a requeued one continues its trials), and wait until every one is over: its result
    written, or out of SLURM's queue without one (LOST_AFTER_S). Every poll, `on_over` is told the workers that are
    over ({worker: its output file}: a lost worker's trials are failed there, gansweep.search.workers.fail_lost).
    The JobReturns of the trials the workers trained; a worker that raised is logged with its output file. The caller
    holds the sweep folder (claim_or_stop: the sweeper takes it before it touches the study's running trials)."""
    from gansweep.launch.slurm_task import StudyWorker

    executor = slurm_executor(launcher.params)
    if n_workers < 1:
        return []
    state = Singleton.get_state()
    jobs = executor.map_array(StudyWorker(launcher, plan, refill), list(range(n_workers)), [state] * n_workers)
    array_id = jobs[0].job_id.split("_")[0]
    fused = f", {plan.fuse} trials trained as one group at a time" if plan.fuse > 1 else ""
    log.info(f"SLURM array job {array_id}: {n_workers} workers pull the study's trials{fused}")
    log.info(f"\tworkers' output in {launcher.params['submitit_folder']}")
    outputs = {job.job_id: str(job.paths.stdout) for job in jobs}
    watch = ArrayWatch({job.job_id: job.paths.result_pickle for job in jobs}, lambda: queue_states(array_id))
    while True:
        over = watch.over()
        if over:
            on_over({task: outputs[task] for task in over})
        if len(over) == len(jobs):
            break
        time.sleep(POLL_S)
    returns: List[JobReturn] = []
    for job in jobs:
        if not job.paths.result_pickle.exists():
            log.error(f"SLURM worker {job.job_id} ended without a result; its output: {outputs[job.job_id]}")
            continue
        try:
            returns.extend(job.results()[0])
        except Exception as err:  # what the worker raised
            log.error(f"SLURM worker {job.job_id} failed ({first_line(err)}); its output: {outputs[job.job_id]}")
    return returns


class ArrayWatch:
    """Which array tasks are over: their result file written, or out of the queue (not listed, or in an ended state)
    for `grace_s` in a row. `states` is the queue's view ({task: state}; None when it cannot say: nothing is decided
    from it then)."""

    def __init__(
        self,
        results: Mapping[str, Path],
        states: Callable[[], Optional[Dict[str, str]]],
        grace_s: float = LOST_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.results, self.states, self.grace_s, self.clock = dict(results), states, grace_s, clock
        self.gone_since: Dict[str, float] = {}
        self.done: Set[str] = set()

    def over(self) -> Set[str]:
        queue = self.states()
        now = self.clock()
        for task, result in self.results.items():
            if task in self.done:
                continue
            if Path(result).exists():
                self.done.add(task)
            elif queue is not None and queue.get(task, "GONE") in ENDED_STATES | {"GONE"}:
                if now - self.gone_since.setdefault(task, now) >= self.grace_s:
                    self.done.add(task)
            elif queue is not None:
                self.gone_since.pop(task, None)
        return set(self.done)


def queue_states(*job_ids: str) -> Optional[Dict[str, str]]:
    """{array task (ARRAY_INDEX) or job id: its state} as squeue lists these jobs, in any state; {} when SLURM no
    longer knows them; None when squeue cannot answer."""
    args = ["squeue", "--noheader", "--array", "--states=all", "--format=%i %T", "--jobs", ",".join(job_ids)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        log.warning(f"squeue: {err}")
        return None
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return {}
        log.warning(f"squeue: {proc.stderr.strip() or f'exit code {proc.returncode}'}")
        return None
    return dict(line.split()[:2] for line in proc.stdout.splitlines() if len(line.split()) >= 2)


def alive_workers(workers: Set[str]) -> Optional[Set[str]]:
    """The workers (SLURM job ids, ARRAY_INDEX) still queued or running, per array; None when squeue cannot say."""
    alive: Set[str] = set()
    for array in sorted({worker.split("_")[0] for worker in workers}):
        states = queue_states(array)
        if states is None:
            return None
        alive |= {task for task, state in states.items() if state not in ENDED_STATES}
    return alive & set(workers)
