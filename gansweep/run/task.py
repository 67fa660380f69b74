"""The Hydra task: one grid point, run as the group of one on the one run path (gansweep.run.group). Heavy imports
happen in there.

Run again on its folder, the task skips a finished point and resumes an interrupted one (gansweep.run.plan), and a
stop signal ends it cleanly between generator iterations (gansweep.signals), so every launcher gets resume and
interruption.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig


def train(cfg: DictConfig) -> float:
    """Run one grid point. Whatever happens, metrics.json records it; in a multirun, errors never escape (a single run
    raises a failure once it is recorded). A folder of another grid point is refused, untouched, with an error.

    A folder that already holds a finished point is skipped (its recorded value returned, nothing touched); an
    interrupted one resumes from its checkpoint. After a stop signal the run is checkpointed and recorded as
    interrupted, then the process exits (gansweep.signals.StopSignals.forward)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from gansweep.callbacks.progress import wanted
    from gansweep.config import ConfigError
    from gansweep.hydra_job import stop_with, sweeper_value
    from gansweep.lock import FolderBusy
    from gansweep.record import CheckpointUnreadable
    from gansweep.run.group import PointJob, run_jobs
    from gansweep.run.plan import OtherPointError
    from gansweep.threads import apply

    hydra_cfg = HydraConfig.get()
    single = hydra_cfg.mode != RunMode.MULTIRUN
    if single:  # a sweep's point was given its share where its process started (gansweep.launch.child)
        apply(concurrency=1)
    job = PointJob(cfg, hydra_cfg, Path(hydra_cfg.runtime.output_dir))  # type: ignore[arg-type]
    mistakes = (ConfigError, OtherPointError, FolderBusy, CheckpointUnreadable)  # the user's to fix: one line
    try:
        (value,) = run_jobs([job], progress=wanted(multirun=not single), raise_failure=single)
    except mistakes as err:  # a single run's failure, recorded
        stop_with(str(err), err)
    if isinstance(value, Exception):  # the folder could not be planned: it holds another point, or a bad file
        if single and isinstance(value, mistakes):
            stop_with(str(value), value)
        raise value
    return sweeper_value(float(value), hydra_cfg)  # type: ignore[arg-type]
