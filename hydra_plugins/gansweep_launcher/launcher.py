"""Adapts Hydra's Launcher interface to `gansweep.launch.local`; nothing heavy is imported until a sweep launches."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class GansweepLauncher(Launcher):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        self.job_numbers: Optional[List[int]] = None  # set by hydra/sweeper=gansweep for points that are not 0..n-1
        self.stream: Any = None  # set by hydra/sweeper=adaptive: its trials, pulled as slots free (local.JobStream)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from gansweep.launch.local import launch

        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        numbers, self.job_numbers = self.job_numbers, None
        stream, self.stream = self.stream, None
        return launch(
            self.settings,
            self.hydra_context,
            self.task_function,
            self.config,
            job_overrides,
            initial_job_idx,
            numbers,
            stream,
        )
