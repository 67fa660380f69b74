"""Hydra-job helpers written once: a point's composed config (hydra node included) made current, split into the task's
config, and its run folder, as hydra.core.utils.run_job does them for one job."""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterator, List, NoReturn, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf, open_dict, read_write


@contextlib.contextmanager
def hydra_config(config: Optional[DictConfig], copy: bool = True) -> Iterator[None]:
    """The point's Hydra config current (`${hydra:...}` reads its run folder), as run_job sets it; None: the one
    that is current already (a task Hydra started itself). copy=False makes `config` itself current, for reading
    only (a launcher preparing thousands of points: no read-only copy of the hydra node each time)."""
    if config is None:
        yield
        return
    from hydra.core.hydra_config import HydraConfig

    saved = HydraConfig.instance().cfg
    if copy:
        HydraConfig.instance().set_config(config)
    else:
        HydraConfig.instance().cfg = config  # type: ignore[assignment]
    try:
        yield
    finally:
        HydraConfig.instance().cfg = saved


def task_config(config: DictConfig) -> DictConfig:
    """The config a task receives: the point's, without the hydra node."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task


def task_nodes(cfg: DictConfig) -> List[Tuple[str, Any]]:
    """(key, node) of each top-level node of a task config, or of a composed one less its hydra node: what the task
    reads, without task_config's copy (a launcher reads this for every point)."""
    return [(str(key), cfg._get_node(key)) for key in cfg.keys() if key != "hydra"]


def output_dir(config: DictConfig) -> Path:
    """The run folder run_job gives the point (hydra.runtime.output_dir, set when the point was composed)."""
    return Path(str(config.hydra.runtime.output_dir))


def sweep_output_dir(config: DictConfig) -> Path:
    """hydra.sweep.dir / hydra.sweep.subdir resolved with the point's config current, absolute, as run_job does."""
    with hydra_config(config, copy=False):
        sweep_dir = str(OmegaConf.select(config, "hydra.sweep.dir"))
        subdir = str(OmegaConf.select(config, "hydra.sweep.subdir"))
    return Path(os.path.abspath(os.path.join(sweep_dir, subdir)))


def sweeper_value(value: float, hydra: Optional[DictConfig]) -> float:
    """What a sweeper is told for a point: its objective, or, for a point without one (diverged, failed, refused), the
    worst value for the sweep's direction (+inf when minimising, -inf when maximising). Never NaN: the released
    Optuna sweeper aborts its study on NaN (Hydra issue 2237) and on a failed job (max_failure_rate 0); it and
    Nevergrad's take an infinity as the worst result."""
    if math.isfinite(value):
        return value
    return -math.inf if _maximises(hydra) else math.inf


def _maximises(hydra: Optional[DictConfig]) -> bool:
    """Whether the sweeper maximises: Optuna's `direction`, Nevergrad's `optim.maximize`, Ax's `minimize: false`."""
    sweeper = OmegaConf.select(hydra, "sweeper", default=None) if hydra is not None else None
    if sweeper is None:
        return False
    direction = OmegaConf.select(sweeper, "direction", default=None)  # a name, an enum, or a list of them
    first = direction[0] if isinstance(direction, (list, tuple)) or OmegaConf.is_list(direction) else direction
    if str(getattr(first, "name", first)).lower() == "maximize":
        return True
    if OmegaConf.select(sweeper, "optim.maximize", default=False) is True:
        return True
    return OmegaConf.select(sweeper, "ax_config.experiment.minimize", default=True) is False


def stop_with(message: str, err: Optional[BaseException] = None) -> NoReturn:
    """End the command on a mistake the user can fix: the message on one line, exit status 1, no traceback (with
    HYDRA_FULL_ERROR=1, as in Hydra, `err` is raised with its traceback instead)."""
    if err is not None and os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise err
    sys.stdout.flush()
    print(f"Error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def launch_numbered(launcher: Any, jobs: Sequence[Sequence[str]], numbers: Sequence[int]) -> List[Sequence[Any]]:
    """Each job launched with its own job number (its folder): gansweep's launcher takes any numbers in one launch (no
    batch barrier); another gets a launch per run of consecutive numbers. The launches' JobReturns, in order."""
    if hasattr(launcher, "job_numbers"):
        launcher.job_numbers = list(numbers)
        return [launcher.launch(jobs, initial_job_idx=numbers[0])]
    returns, start = [], 0
    for end in range(1, len(numbers) + 1):
        if end == len(numbers) or numbers[end] != numbers[end - 1] + 1:
            returns.append(launcher.launch(jobs[start:end], initial_job_idx=numbers[start]))
            start = end
    return returns
