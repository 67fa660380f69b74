"""The Hydra task: config -> objects -> fit -> metrics.json. Heavy imports happen in here.

Evaluation, sample plots and checkpoints are Lightning callbacks (conf/callbacks/); this file only builds,
fits and records. Run again on its folder, the task skips a finished point and resumes an interrupted one
(gansweep.sweep.resume), and a stop signal ends it cleanly between generator iterations (gansweep.signals), so
every launcher gets resume and interruption.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from gansweep.config import check_train
from gansweep.instantiate import instantiate_entries, instantiate_plain
from gansweep.signals import StopSignals
from gansweep.sweep.records import new_record, write_record
from gansweep.sweep.resume import SKIP, plan_run, prepare

log = logging.getLogger("gansweep")


def build_constraints(cfg: DictConfig) -> List[Any]:
    """One plug-in per entry under `constraint` (the `none` option contributes nothing)."""
    return instantiate_entries(cfg.constraint)


def fit(
    cfg: DictConfig,
    out_dir: Path,
    record: Dict[str, Any],
    checkpoint: Optional[Dict[str, Any]] = None,
    progress: bool = False,
    loggers: Sequence[Any] = (),
) -> None:
    """Train one grid point, from `checkpoint` when given (with a progress bar when `progress`, curves to
    `loggers`); `record` receives g_iters and metrics even when fitting fails, then the status."""
    check_train(cfg.train)  # before the heavy imports: a wrong range fails at once
    import pytorch_lightning as pl
    from hydra.utils import instantiate
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from gansweep.callbacks.checkpoint import STATE_KEY
    from gansweep.callbacks.device import DeviceSettings
    from gansweep.callbacks.evaluation import collect_metrics, collect_protocols
    from gansweep.callbacks.progress import IterationProgress
    from gansweep.callbacks.restore import RestoreTraining
    from gansweep.callbacks.stop import Interrupted, StopOnSignal
    from gansweep.module import GANModule
    from gansweep.optim import optimizer_factories, scheduler_factory

    _quiet_lightning()
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = instantiate_plain(cfg.dataset, seed=cfg.seed)  # missing data fails here, before any network
    loss = instantiate(cfg.loss)
    module = GANModule(
        instantiate(cfg.arch, data_shape=datamodule.data_shape),
        loss,
        build_constraints(cfg),
        optimizers=optimizer_factories(cfg.optim),
        scheduler=scheduler_factory(cfg.optim.decay, cfg.train.iters),
        generator_batch_size=cfg.train.generator_batch_size,
        ema=cfg.train.ema,
        log_every=cfg.train.log_every,
    )
    start = checkpoint[STATE_KEY]["g_iters"] if checkpoint is not None else 0
    per_step = cfg.train.n_critic + loss.extra_real_batches
    datamodule.configure_batches(cfg.train.batch_size, per_step, cfg.train.iters - start, start=start)
    callbacks = [
        *([RestoreTraining(checkpoint)] if checkpoint is not None else []),  # first: the others see the restored run
        DeviceSettings(cfg.train.tf32, cfg.train.channels_last),
        *instantiate_entries({"metrics": cfg.metrics}),  # before the others: its numbers survive a later failure
        *instantiate_entries(cfg.callbacks),
        *([IterationProgress(cfg.train.iters)] if progress else []),
        StopOnSignal(),  # last: a stop signal ends the run once every callback has finished the iteration
    ]
    for logger in loggers if checkpoint is not None else ():
        if hasattr(logger, "resume_from"):
            logger.resume_from(start)  # the curves continue where the checkpoint left them, each step once
    trainer = pl.Trainer(
        max_epochs=1,
        logger=list(loggers) or False,
        callbacks=callbacks,
        enable_checkpointing=False,  # checkpoints are gansweep's callback, counted in generator iterations
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,  # the module logs only every train.log_every generator iterations
        default_root_dir=str(out_dir),
        plugins=cluster_plugins(),
        **OmegaConf.to_container(cfg.trainer),  # type: ignore[arg-type]
    )
    interrupted = False
    try:
        trainer.fit(module, datamodule=datamodule)
    except (Interrupted, SIGTERMException):  # raised between generator iterations; the checkpoint is written
        interrupted = True
    finally:  # what an evaluation computed before a failure is kept
        record.update(g_iters=module.g_iters, metrics=collect_metrics(callbacks), protocol=collect_protocols(callbacks))
    if module.diverged_at is not None or (interrupted and module.check_divergence()):
        record.update(status="diverged", diverged_at=module.diverged_at)
    else:
        record["status"] = "interrupted" if interrupted else "ok"


def cluster_plugins() -> List[Any]:
    """Inside a SLURM job, Lightning's SLURM environment without its auto-requeue: Lightning would otherwise save
    its own hpc checkpoint and `scontrol requeue` the job on SIGUSR1, besides gansweep's stop and submitit's requeue
    (gansweep.signals)."""
    from lightning_fabric.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def _quiet_lightning() -> None:
    """Lightning's per-run banners (GPU available, tips, srun hints) would repeat for every grid point of a sweep."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("pytorch_lightning.trainer.connectors.checkpoint_connector").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
    # on a SLURM login node: gansweep trains one device per process and submits through hydra/launcher=slurm
    warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system but is not used.*")


def train(cfg: DictConfig) -> float:
    """Run one grid point. Whatever happens, metrics.json records it; in a multirun, errors never escape.

    A folder that already holds a finished point is skipped (its recorded value returned, nothing touched); an
    interrupted one resumes from its checkpoint. After a stop signal the run is checkpointed and recorded as
    interrupted, then the process exits (gansweep.signals.StopSignals.forward)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    failed = getattr(cfg.resume.failed, "value", cfg.resume.failed)  # the FailedPolicy enum, or its name
    plan = plan_run(out_dir, list(hydra_cfg.overrides.task), str(failed), cfg.train.iters)
    if plan.action == SKIP:
        assert plan.record is not None
        log.info("skipped: %s is %s", out_dir, plan.reason)
        return objective(plan.record)
    log.info("%s: %s", out_dir, plan.reason)
    prepare(out_dir, plan)
    with StopSignals() as stop:
        record = run_point(cfg, out_dir, plan.checkpoint, hydra_cfg.mode == RunMode.MULTIRUN)
    stop.forward()  # after a stop signal: hand it on (submitit requeues), exit 128 + signal
    return objective(record)


def run_point(cfg: DictConfig, out_dir: Path, checkpoint: Optional[Dict[str, Any]], multirun: bool) -> Dict[str, Any]:
    """Train and record one point (from `checkpoint` when resuming); a failure is raised only outside a multirun."""
    from hydra.core.hydra_config import HydraConfig

    from gansweep.callbacks.checkpoint import STATE_KEY
    from gansweep.callbacks.progress import wanted as progress_wanted
    from gansweep.loggers.build import build_loggers, close_loggers
    from gansweep.loggers.identity import point_identity

    hydra_cfg = HydraConfig.get()
    record = new_record(hydra_cfg, cfg.seed)
    record["resumed_from"] = checkpoint[STATE_KEY]["g_iters"] if checkpoint is not None else None
    start = time.perf_counter()
    failure: Exception | None = None
    loggers: List[Any] = []
    try:
        (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        loggers = build_loggers(cfg, lambda: point_identity(cfg, hydra_cfg))  # first: a later failure has its W&B run
        fit(cfg, out_dir, record, checkpoint, progress=progress_wanted(multirun), loggers=loggers)
        if record["status"] == "diverged":
            record["error"] = f"non-finite loss at generator iteration {record['diverged_at']}"
            log.warning("run diverged: %s", record["error"])
        elif record["status"] == "interrupted":
            log.warning(
                "run interrupted after generator iteration %d; run the same command to resume", record["g_iters"]
            )
    except Exception as err:  # recorded, then re-raised only outside a multirun
        failure = err
        record.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
    record["wall_time_s"] = round(time.perf_counter() - start, 3)
    write_record(out_dir, record)
    close_loggers(loggers, record)  # W&B: the outcome into the run's summary, then wandb.finish()
    if failure is not None:
        if not multirun:
            raise failure
        log.error("run failed (the sweep goes on): %s", record["error"])
    log.info("status=%s metrics=%s -> %s", record["status"], record["metrics"], out_dir / "metrics.json")
    return record


OBJECTIVES = ("energy_distance", "fid_inception", "kl", "fid_digits")  # lower is better for each


def objective(record: Dict[str, Any]) -> float:
    """The value a sweeper minimises: the first recorded of OBJECTIVES (toy: energy distance; images: FID; stacked
    digits: KL), NaN when there is none."""
    metrics = record.get("metrics") or {}
    value = next((metrics[k] for k in OBJECTIVES if metrics.get(k) is not None), math.nan)
    return float(value)
