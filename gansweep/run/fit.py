"""One fit of K >= 1 built points: one GANModule over their stack, their data stacked, each point's callbacks and
loggers wired to its own view, one Lightning Trainer. A run is the fit of one point; a fused group of K is wired the
same way. Once training starts, nothing escapes it: how each point ended is in the module's health when it returns
(a fit that cannot start, e.g. points of different architectures, raises)."""

from __future__ import annotations

import logging
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from gansweep.record import checkpoint_iteration


@dataclass
class FitPoint:
    """One point's parts: its GANPoint, data module, own callbacks and loggers, and its checkpoint when resumed."""

    point: Any  # gansweep.model.points.GANPoint
    datamodule: Any
    callbacks: List[Any] = field(default_factory=list)
    loggers: List[Any] = field(default_factory=list)
    checkpoint: Optional[Dict[str, Any]] = None


@dataclass
class FitSettings:
    """What a fit reads of its points' (equal) training config."""

    iters: int  # the budget in generator iterations: a resumed fit runs from its checkpoint's iteration to it
    batch_size: int
    n_critic: int
    trainer: Dict[str, Any] = field(default_factory=dict)  # Lightning Trainer keywords (accelerator, precision...)
    tf32: Any = "auto"
    channels_last: Any = "auto"
    root_dir: Optional[str] = None  # Lightning's default_root_dir: the (first) point's run folder
    progress: bool = False  # a progress bar over generator iterations (a single run on a terminal)

    @classmethod
    def of(cls, cfg: DictConfig, root_dir: str, progress: bool = False) -> "FitSettings":
        train = cfg.train
        trainer = {str(key): value for key, value in OmegaConf.to_container(cfg.trainer).items()}  # type: ignore[union-attr]
        return cls(
            train.iters, train.batch_size, train.n_critic, trainer, train.tf32, train.channels_last, root_dir, progress
        )


def fit(
    points: Sequence[FitPoint], loss: Any, options: Dict[str, Any], settings: FitSettings, refill: Any = None
) -> Any:
    """Train the points as one model (GANModule keywords `options`) and return it; module.health says how each slot's
    point ended (ok, diverged, failed, interrupted, at which iteration). Each point's loggers are finalized.
    `refill` (a gansweep.callbacks.refill.RefillSource): freed slots take new points at its rung boundaries, the fit
    going on while any point trains (the slots' latest points are the source's)."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from gansweep.callbacks.device import DeviceSettings
    from gansweep.callbacks.points import PointCallbacks, PointRun
    from gansweep.callbacks.progress import IterationProgress
    from gansweep.callbacks.refill import Refill
    from gansweep.callbacks.restore import Restore
    from gansweep.callbacks.stop import Interrupted, StopOnSignal
    from gansweep.data.stack import StackedData
    from gansweep.model.health import FAILED, INTERRUPTED, OK
    from gansweep.model.module import GANModule
    from gansweep.model.view import PointView

    _quiet_lightning()
    module = GANModule([p.point for p in points], loss, **options)
    starts = {checkpoint_iteration(p.checkpoint) for p in points}
    if len(starts) != 1:
        raise ValueError(f"the points of one fit start at one generator iteration, got {sorted(starts)}")
    (start,) = starts
    checkpoints = [p.checkpoint for p in points if p.checkpoint is not None]
    data = StackedData([p.datamodule for p in points])
    per_step = settings.n_critic + loss.extra_real_batches  # real batches per generator iteration
    data.configure_batches(settings.batch_size, per_step, settings.iters - start, start)
    if refill is not None:
        data.open_ended = True
        module.budget = module.last_iteration = settings.iters  # read by the callbacks' on_train_start already
    runs = [PointRun(PointView(module, k), p.loggers, p.datamodule, p.callbacks) for k, p in enumerate(points)]
    module.point_loggers = [list(p.loggers) for p in points]
    for logger in (logger for p in points for logger in p.loggers) if checkpoints else ():
        if hasattr(logger, "resume_from"):
            logger.resume_from(start)  # the curves continue where the checkpoint left them, each step once
    point_callbacks = PointCallbacks(runs, open_ended=refill is not None)
    layout = (settings.batch_size, per_step, settings.iters)
    callbacks = [
        *([Restore(checkpoints, runs)] if checkpoints else []),  # first: the others see the restored run
        DeviceSettings(settings.tf32, settings.channels_last),
        point_callbacks,
        *([Refill(refill, point_callbacks, data, layout)] if refill is not None else []),  # after this iteration's
        *([IterationProgress(settings.iters)] if settings.progress else []),
        StopOnSignal(),  # last: a stop signal ends the fit once every callback has finished the iteration
    ]
    trainer = make_trainer(settings, callbacks)
    try:
        trainer.fit(module, datamodule=data)
    except (Interrupted, SIGTERMException):  # raised between generator iterations; each checkpoint is written
        module.health.settle(INTERRUPTED, module.g_iters)
    except Exception as err:  # not one point's own error (isolation.py): every point still training fails with it
        module.health.settle(FAILED, module.g_iters, err, traceback.format_exc())
    else:
        module.health.settle(OK, module.g_iters)
    for k, run in enumerate(point_callbacks.runs):  # a refilled slot's: its latest point's (unless closed already)
        for logger in () if run.closed else run.loggers:
            logger.finalize("failed" if module.health.points[k].status == FAILED else "success")
    return module


def make_trainer(settings: FitSettings, callbacks: List[Any]) -> Any:
    """The Lightning Trainer of one fit: one epoch of generator iterations, gansweep's own checkpoints, no logger of
    its own (each point logs to its own)."""
    import pytorch_lightning as pl

    return pl.Trainer(
        max_epochs=1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=False,  # checkpoints are gansweep's callback, counted in generator iterations
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=settings.root_dir,
        plugins=cluster_plugins(),
        **settings.trainer,
    )


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
