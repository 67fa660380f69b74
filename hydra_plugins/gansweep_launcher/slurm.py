"""`hydra/launcher=slurm`: hydra-submitit-launcher's SLURM launcher whose launch is gansweep.launch.slurm's (every
point answered for, even one whose job died). Without hydra-submitit-launcher installed, choosing it fails at once
with the install command."""

from __future__ import annotations

from typing import Any, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher

INSTALL = 'hydra/launcher=slurm needs submitit and hydra-submitit-launcher: pip install "gansweep[slurm]"'

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # the slurm extra is not installed

    class GansweepSlurmLauncher(Launcher):
        def __init__(self, **params: Any) -> None:
            raise ImportError(INSTALL)

        def setup(self, **kwargs: Any) -> None:  # pragma: no cover - __init__ already refused
            raise ImportError(INSTALL)

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            raise ImportError(INSTALL)  # pragma: no cover

else:

    class GansweepSlurmLauncher(SlurmLauncher):  # type: ignore[no-redef]
        """Submits and requeues as hydra-submitit-launcher does, a task per point or per fused group
        (`hydra.launcher.fuse`); gathers results point by point."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            from gansweep.launch.slurm import launch_array

            assert self.config is not None and self.hydra_context is not None
            return launch_array(self, self.params, self.hydra_context, self.config, job_overrides, initial_job_idx)
