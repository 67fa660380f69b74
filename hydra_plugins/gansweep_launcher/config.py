"""The `hydra/launcher=gansweep` config, registered in Hydra's ConfigStore when Hydra scans its plugins."""

from dataclasses import dataclass, field
from typing import List, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class GansweepLauncherConf:
    _target_: str = "hydra_plugins.gansweep_launcher.launcher.GansweepLauncher"
    # points run at once on a machine without GPUs; torch already spreads one run over every core
    workers: int = 1
    # points sharing one GPU at a time when GPUs are visible (concurrency = GPUs x jobs_per_gpu)
    jobs_per_gpu: int = 1
    # null: every visible GPU; 0: none (CPU jobs); N: the first N visible (N simulated leases when none is visible)
    gpus: Optional[int] = None
    # imported once by the warm parent that forks every point (gansweep's own modules are always added)
    preload: List[str] = field(default_factory=lambda: ["torch", "pytorch_lightning", "matplotlib.pyplot"])


ConfigStore.instance().store(group="hydra/launcher", name="gansweep", node=GansweepLauncherConf, provider="gansweep")
