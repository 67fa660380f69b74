"""The `hydra/launcher=gansweep` and `hydra/launcher=slurm` configs, registered in Hydra's ConfigStore when Hydra
scans its plugins."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

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
    # points trained as ONE batched model in one process (gansweep.run.fusion) when they differ only in seed, learning
    # rates, betas, penalty weight, clip value or EMA decay; each still leaves its own run folder. 1: no fusion
    fuse: int = 1
    # imported once by the warm parent that forks every point (gansweep's own modules are always added)
    preload: List[str] = field(default_factory=lambda: ["torch", "pytorch_lightning", "matplotlib.pyplot"])


ConfigStore.instance().store(group="hydra/launcher", name="gansweep", node=GansweepLauncherConf, provider="gansweep")


# hydra/sweeper=gansweep: Hydra's basic sweeper's keys (max_batch_size, params) and `points`. A plain dict, not a
# dataclass: a resumed Optuna study's experiment YAML may set Optuna's keys (n_trials...), which it then ignores.
GANSWEEP_SWEEPER: Dict[str, Any] = {
    "_target_": "hydra_plugins.gansweep_launcher.sweeper.GansweepSweeper",
    "max_batch_size": None,  # null: one batch; the gansweep launcher starts each point as a slot frees
    "params": None,
    "points": None,  # a file of points (job number, overrides) to run instead of a grid: gansweep-resume's
}
ConfigStore.instance().store(group="hydra/sweeper", name="gansweep", node=GANSWEEP_SWEEPER, provider="gansweep")


# hydra/sweeper=adaptive: an Optuna study whose trials report every evaluation and are pruned inside training
# (gansweep.search). A plain dict, as hydra/sweeper=gansweep's: Optuna is imported only when a sweep starts.
ADAPTIVE_SWEEPER: Dict[str, Any] = {
    "_target_": "hydra_plugins.gansweep_launcher.adaptive.AdaptiveSweeper",
    "params": None,  # Hydra's sweep syntax as hydra-optuna-sweeper spells it (choice, range, interval, tag(log, ...))
    "sampler": None,  # grid | tpe | random | qmc; null: grid for a finite grid, else tpe
    "pruner": "asha",  # asha | hyperband | median | none: rungs from the first evaluation (metrics.every), x3 each
    "metric": None,  # null: the points' headline metric (the report's: fid_inception, fid_*, modes_covered, ...)
    "direction": None,  # minimize | maximize; null: the metric's own (modes up, distances down)
    "n_trials": None,  # null: the whole grid (grid sampler); a search space needs n_trials or budget
    "budget": None,  # total generator iterations of all trials; null: unlimited
    "storage": None,  # an Optuna storage URL; null: a file in the sweep folder (optuna-dashboard reads it)
    "study_name": None,  # null: the sweep folder's name
    "seed": None,  # the sampler's seed
    "reduction_factor": 3,  # ASHA's and Hyperband's: a third of a rung's trials go on
    "refill": True,  # a fused group's freed slots take the next trials at rung boundaries (gansweep.search.refill)
    "max_batch_size": None,  # trials launched at once; null: the launcher's slots x its fused group size
}
ConfigStore.instance().store(group="hydra/sweeper", name="adaptive", node=ADAPTIVE_SWEEPER, provider="gansweep")


# hydra/launcher=slurm: one SLURM array task per grid point, or per fused group (`fuse`). Every other key is
# hydra-submitit-launcher's (hydra.launcher.partition=gpu hydra.launcher.account=lab ...); these are gansweep's
# defaults.
SLURM_DEFAULTS: Dict[str, Any] = {
    "_target_": "hydra_plugins.gansweep_launcher.slurm.GansweepSlurmLauncher",
    "nodes": 1,
    "tasks_per_node": 1,  # one process per point: gansweep trains a point on one device
    "gpus_per_node": 1,  # null on a CPU partition
    "cpus_per_task": 4,  # the data sits on the GPU; raise it for CPU-side decoding or evaluation
    "mem_gb": 32,
    "timeout_min": 240,  # per attempt: a longer point is requeued and continues from its checkpoint
    "max_num_timeout": 3,  # requeues after a time limit (preemptions are requeued without limit)
    "signal_delay_s": 120,  # SIGUSR2 this long before the limit: finish the iteration, checkpoint, requeue
    "array_parallelism": 256,  # points running at once
    "partition": None,
    "account": None,
    "qos": None,
    # as the local launcher's: points trained as ONE model in one array task (gansweep.run.fusion); each still leaves
    # its own run folder, record and checkpoint, and resumes from it when the task is requeued. 1: a task per point
    "fuse": 1,
}


def _slurm_node() -> Dict[str, Any]:
    """Every key of hydra-submitit-launcher's submitit_slurm, with gansweep's defaults, as a plain dict: a node of
    its dataclass would not pickle for the local launcher once Hydra's plugin scan has imported that module again."""
    try:
        from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
    except ImportError:  # choosing it then fails with the install command (slurm.GansweepSlurmLauncher)
        return dict(SLURM_DEFAULTS)
    from omegaconf import OmegaConf

    base = OmegaConf.to_container(OmegaConf.structured(SlurmQueueConf))
    assert isinstance(base, dict)
    return {**base, **SLURM_DEFAULTS}


ConfigStore.instance().store(group="hydra/launcher", name="slurm", node=_slurm_node(), provider="gansweep")
