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
from typing import Any, Dict, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

from gansweep.config import check_train, update_scheme
from gansweep.instantiate import instantiate_entries, instantiate_plain
from gansweep.signals import StopSignals
from gansweep.sweep.records import new_record, write_record
from gansweep.sweep.resume import SKIP, plan_run, prepare

log = logging.getLogger("gansweep")


def build_constraints(cfg: DictConfig) -> List[Any]:
    """One plug-in per entry under `constraint` (the `none` option contributes nothing)."""
    return instantiate_entries(cfg.constraint)


def build_point(cfg: DictConfig) -> Tuple[Any, Any, Any]:
    """(data module, loss, GANPoint) of one grid point, built under its seed in one fixed order, so the point
    initialises the same alone and in a fused group. Missing data fails first, before any network."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from gansweep.module import GANPoint
    from gansweep.optim import optimizer_factories

    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = instantiate_plain(cfg.dataset, seed=cfg.seed)
    loss = instantiate(cfg.loss)
    networks = instantiate(cfg.arch, data_shape=datamodule.data_shape)
    point = GANPoint(networks, build_constraints(cfg), optimizer_factories(cfg.optim), cfg.train.ema, cfg.seed)
    return datamodule, loss, point


def module_options(cfg: DictConfig) -> Dict[str, Any]:
    """The GANModule keywords a point's config sets (a fused group takes its lead point's: they are equal)."""
    from gansweep.optim import scheduler_factory

    update, precision = update_scheme(cfg.train), str(cfg.trainer.precision)
    if update == "simultaneous" and precision in ("16", "16-mixed"):
        raise ValueError(
            f"train.update=simultaneous with trainer.precision={precision}: the two steps of one pass would share one "
            "float16 loss scale that the first step may change; use trainer.precision=bf16-mixed or 32-true, or "
            "train.update=alternating"
        )
    return {
        "scheduler": scheduler_factory(cfg.optim.decay, cfg.train.iters),
        "generator_batch_size": cfg.train.generator_batch_size,
        "log_every": cfg.train.log_every,
        "update": update,
    }


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
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from gansweep.callbacks.checkpoint import STATE_KEY
    from gansweep.callbacks.device import DeviceSettings
    from gansweep.callbacks.evaluation import collect_metrics, collect_protocols
    from gansweep.callbacks.progress import IterationProgress
    from gansweep.callbacks.restore import RestoreTraining
    from gansweep.callbacks.stop import Interrupted, StopOnSignal
    from gansweep.module import GANModule

    _quiet_lightning()
    datamodule, loss, point = build_point(cfg)
    module = GANModule(point, loss, **module_options(cfg))
    start = checkpoint[STATE_KEY]["g_iters"] if checkpoint is not None else 0
    per_step = cfg.train.n_critic + loss.extra_real_batches
    datamodule.configure_batches(cfg.train.batch_size, per_step, cfg.train.iters - start, start=start)
    own = point_callbacks(cfg)
    callbacks = [
        *([RestoreTraining(checkpoint)] if checkpoint is not None else []),  # first: the others see the restored run
        DeviceSettings(cfg.train.tf32, cfg.train.channels_last),
        *own,
        *([IterationProgress(cfg.train.iters)] if progress else []),
        StopOnSignal(),  # last: a stop signal ends the run once every callback has finished the iteration
    ]
    for logger in loggers if checkpoint is not None else ():
        if hasattr(logger, "resume_from"):
            logger.resume_from(start)  # the curves continue where the checkpoint left them, each step once
    trainer = make_trainer(cfg, out_dir, callbacks, loggers)
    interrupted = False
    try:
        trainer.fit(module, datamodule=datamodule)
    except (Interrupted, SIGTERMException):  # raised between generator iterations; the checkpoint is written
        interrupted = True
    finally:  # what an evaluation computed before a failure is kept
        record.update(g_iters=module.g_iters, metrics=collect_metrics(own), protocol=collect_protocols(own))
    if interrupted:
        module.check_divergence()  # a divergence not read yet when the stop came
    settle_status(record, module.diverged_at, interrupted)


def point_callbacks(cfg: DictConfig) -> List[Any]:
    """The point's own callbacks: its evaluation first (its numbers survive a later failure), then `callbacks.*`
    (samples, checkpoint). Interpolations read the point's Hydra config (its run folder)."""
    return [*instantiate_entries({"metrics": cfg.metrics}), *instantiate_entries(cfg.callbacks)]


def make_trainer(cfg: DictConfig, out_dir: Path, callbacks: List[Any], loggers: Sequence[Any]) -> Any:
    """The Lightning Trainer of one fit: one epoch of generator iterations, gansweep's own checkpoints."""
    import pytorch_lightning as pl

    return pl.Trainer(
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


def settle_status(record: Dict[str, Any], diverged_at: Optional[int], interrupted: bool) -> None:
    """A fit's outcome into its record: diverged (at its first non-finite iteration), interrupted or ok."""
    if diverged_at is not None:
        record.update(status="diverged", diverged_at=diverged_at)
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

    from gansweep.callbacks.progress import wanted as progress_wanted

    start = time.perf_counter()
    record, loggers, failure = open_point(cfg, HydraConfig.get(), out_dir, checkpoint)
    if failure is None:
        try:
            fit(cfg, out_dir, record, checkpoint, progress=progress_wanted(multirun), loggers=loggers)
        except Exception as err:  # recorded, then re-raised only outside a multirun
            failure = fail(record, err)
    close_point(out_dir, record, loggers, time.perf_counter() - start)
    if failure is not None and not multirun:
        raise failure
    return record


def open_point(
    cfg: DictConfig, hydra_cfg: Any, out_dir: Path, checkpoint: Optional[Dict[str, Any]]
) -> Tuple[Dict[str, Any], List[Any], Optional[Exception]]:
    """A point's record (failed until its fit says otherwise), its config.yaml and its loggers, built first so that
    a later failure still has its W&B run; a failure here is recorded and returned."""
    from gansweep.callbacks.checkpoint import STATE_KEY
    from gansweep.loggers.build import build_loggers
    from gansweep.loggers.identity import point_identity

    record = new_record(hydra_cfg, cfg.seed)
    record["resumed_from"] = checkpoint[STATE_KEY]["g_iters"] if checkpoint is not None else None
    loggers: List[Any] = []
    try:
        (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        loggers = build_loggers(cfg, lambda: point_identity(cfg, hydra_cfg))
    except Exception as err:
        return record, loggers, fail(record, err)
    return record, loggers, None


def fail(record: Dict[str, Any], err: Exception) -> Exception:
    record.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
    return err


def close_point(out_dir: Path, record: Dict[str, Any], loggers: List[Any], wall_time_s: float) -> None:
    """write_point, then hand the record to the point's loggers (W&B: the summary, then wandb.finish())."""
    from gansweep.loggers.build import close_loggers

    write_point(out_dir, record, wall_time_s)
    close_loggers(loggers, record)


def write_point(out_dir: Path, record: Dict[str, Any], wall_time_s: float) -> None:
    """Say how the point ended and write its metrics.json."""
    if record["status"] == "diverged":
        record["error"] = f"non-finite loss at generator iteration {record['diverged_at']}"
        log.warning("run diverged: %s", record["error"])
    elif record["status"] == "interrupted":
        log.warning("run interrupted after generator iteration %d; run the same command to resume", record["g_iters"])
    elif record["status"] == "failed":
        log.error("run failed: %s", record["error"])
    record["wall_time_s"] = round(wall_time_s, 3)
    write_record(out_dir, record)
    log.info("status=%s metrics=%s -> %s", record["status"], record["metrics"], out_dir / "metrics.json")


OBJECTIVES = ("energy_distance", "fid_inception", "kl", "fid_digits")  # lower is better for each


def objective(record: Dict[str, Any]) -> float:
    """The value a sweeper minimises: the first recorded of OBJECTIVES (toy: energy distance; images: FID; stacked
    digits: KL), NaN when there is none."""
    metrics = record.get("metrics") or {}
    value = next((metrics[k] for k in OBJECTIVES if metrics.get(k) is not None), math.nan)
    return float(value)
