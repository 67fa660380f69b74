"""What one SLURM array task of `hydra/launcher=slurm` runs: a grid point, as hydra-submitit-launcher runs it, or a
fused group of points (`hydra.launcher.fuse`), trained as one model with every point in its own run folder; under an
adaptive sweep, a worker that trains the study's trials that way, one point or group after another (StudyWorker).

Requeue is submitit's: `checkpoint` resubmits the same call, and the requeued task plans every point again
(gansweep.run.plan): a finished point is skipped, an interrupted one resumes from its own checkpoint."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Tuple

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from omegaconf import DictConfig, open_dict, read_write


@dataclass(frozen=True)
class ArrayJob:
    """The points of one array task: one point (composed again inside the task from its overrides, as
    hydra-submitit-launcher does) or a fused group (its points' configs as the launcher composed and grouped them)."""

    nums: Tuple[int, ...]  # hydra.job.num of each point
    overrides: Tuple[Tuple[str, ...], ...]
    configs: Tuple[DictConfig, ...] = ()  # a fused group's; empty for a single point
    refill: Any = None  # a study worker's gansweep.search.refill.RefillPlan: its group's freed slots take new trials

    @property
    def fused(self) -> bool:
        return len(self.nums) > 1


class ArrayTask:
    """The callable submitit runs in every array task; `launcher` is hydra-submitit-launcher's (its hydra context,
    sweep config and task function travel with it)."""

    def __init__(self, launcher: Any) -> None:
        self.launcher = launcher

    def __call__(self, job: ArrayJob, singleton_state: Dict[type, Singleton]) -> List[JobReturn]:
        """One JobReturn per point of `job`, in its order."""
        if not job.fused:
            num = job.nums[0]
            return [self.launcher(list(job.overrides[0]), "hydra.sweep.dir", num, f"job_id_for_{num}", singleton_state)]
        return self._run_group(job, singleton_state)

    def _run_group(self, job: ArrayJob, singleton_state: Dict[type, Singleton]) -> List[JobReturn]:
        """The group's points trained as one model (gansweep.run.jobs), each with the SLURM job id as hydra.job.id.
        The run takes copies: `job` is what a requeue submits again, as it was."""
        import submitit
        from hydra.core.utils import setup_globals

        from gansweep.run.jobs import run_group_jobs

        Singleton.set_state(singleton_state)
        setup_globals()
        job_id = submitit.JobEnvironment().job_id
        configs = [copy.deepcopy(config) for config in job.configs]
        for config in configs:
            with read_write(config.hydra.job), open_dict(config.hydra.job):
                config.hydra.job.id = job_id
        return run_group_jobs(self.launcher.hydra_context, self.launcher.task_function, configs, job.refill)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """On preemption or before the time limit: resubmit the same call (its points resume from their folders)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


class StudyWorker:
    """The callable submitit runs in every array task of an adaptive sweep (hydra/sweeper=adaptive): a worker that
    pulls trials from the study and trains them on gansweep's run path, as ArrayTask trains grid points, until the
    study is done (gansweep.search.workers.work). Its name in the study is its SLURM job id (ARRAY_INDEX), which a
    requeued task keeps: the requeued worker continues its own trials first, each from its run folder's checkpoint.
    `plan` is a gansweep.search.workers.WorkerPlan."""

    def __init__(self, launcher: Any, plan: Any, refill: Any = None) -> None:
        """`refill`: a gansweep.search.refill.RefillPlan (its owner filled in per worker), or None: the worker's
        fused groups leave freed slots free."""
        self.launcher, self.plan, self.refill_plan = launcher, plan, refill

    def __call__(self, index: int, singleton_state: Dict[type, Singleton]) -> List[JobReturn]:
        """The JobReturns of the trials this worker trained; `index`: its place in the array (its sampler's seed)."""
        import submitit
        from hydra.core.utils import configure_log, setup_globals

        from gansweep.search.workers import work

        Singleton.set_state(singleton_state)
        setup_globals()
        config = self.launcher.config
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)  # the worker's lines in the task's output
        study = self.plan.open_study(index)
        worker = submitit.JobEnvironment().job_id
        # the trials its fused groups ask for freed slots carry its name: a requeued worker continues them too
        refill = replace(self.refill_plan, owner=worker, index=index) if self.refill_plan is not None else None
        return work(study, self.plan, worker, lambda jobs: self.train(jobs, singleton_state, refill))

    def train(
        self, jobs: List[Tuple[int, List[str]]], singleton_state: Dict[type, Singleton], refill: Any = None
    ) -> List[JobReturn]:
        """The trials `jobs` (number, overrides) trained as the launcher's array tasks train points, then the
        worker's own log lines back to the task's output."""
        from hydra.core.utils import configure_log

        from gansweep.launch.slurm import train_points

        swept = list(self.plan.space.dimensions)
        try:
            return train_points(self.launcher, jobs, self.plan.fuse, swept, singleton_state, refill)
        finally:
            config = self.launcher.config
            configure_log(config.hydra.hydra_logging, config.hydra.verbose)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """On preemption or before the time limit: resubmit the same worker (its trials continue from their folders)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)
