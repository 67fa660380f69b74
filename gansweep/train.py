"""The Hydra task: config -> objects -> fit -> metrics.json. Heavy imports happen in here.

Evaluation, sample plots and checkpoints are Lightning callbacks (conf/callbacks/); this file only builds,
fits and records.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, List

from omegaconf import DictConfig, OmegaConf

from gansweep.config import check_train
from gansweep.instantiate import instantiate_entries, instantiate_plain
from gansweep.sweep.records import new_record, write_record

log = logging.getLogger("gansweep")


def build_constraints(cfg: DictConfig) -> List[Any]:
    """One plug-in per entry under `constraint` (the `none` option contributes nothing)."""
    return instantiate_entries(cfg.constraint)


def fit(cfg: DictConfig, out_dir: Path, record: Dict[str, Any]) -> None:
    """Train one grid point; `record` receives g_iters and metrics even when fitting fails, then the status."""
    check_train(cfg.train)  # before the heavy imports: a wrong range fails at once
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from gansweep.callbacks.device import DeviceSettings
    from gansweep.callbacks.evaluation import collect_metrics
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
    datamodule.configure_batches(cfg.train.batch_size, cfg.train.n_critic + loss.extra_real_batches, cfg.train.iters)
    callbacks = [
        DeviceSettings(cfg.train.tf32, cfg.train.channels_last),
        *instantiate_entries({"metrics": cfg.metrics}),  # first: its numbers survive a later failure
        *instantiate_entries(cfg.callbacks),
    ]
    trainer = pl.Trainer(
        max_epochs=1,
        logger=instantiate(cfg.logger) if cfg.logger else False,
        callbacks=callbacks,
        enable_checkpointing=False,  # checkpoints are gansweep's callback, counted in generator iterations
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,  # the module logs only every train.log_every generator iterations
        default_root_dir=str(out_dir),
        **OmegaConf.to_container(cfg.trainer),  # type: ignore[arg-type]
    )
    try:
        trainer.fit(module, datamodule=datamodule)
    finally:  # what an evaluation computed before a failure is kept
        record.update(g_iters=module.g_iters, metrics=collect_metrics(callbacks))
    if module.diverged_at is not None:
        record.update(status="diverged", diverged_at=module.diverged_at)
    else:
        record["status"] = "ok"


def _quiet_lightning() -> None:
    """Lightning's per-run banners (GPU available, tips) would repeat for every grid point of a sweep."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("pytorch_lightning.trainer.connectors.checkpoint_connector").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")


def train(cfg: DictConfig) -> float:
    """Run one grid point. Whatever happens, metrics.json records it; in a multirun, errors never escape."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    record = new_record(hydra_cfg, cfg.seed)
    start = time.perf_counter()
    failure: Exception | None = None
    try:
        (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        fit(cfg, out_dir, record)
        if record["status"] == "diverged":
            record["error"] = f"non-finite loss at generator iteration {record['diverged_at']}"
            log.warning("run diverged: %s", record["error"])
    except Exception as err:  # recorded, then re-raised only outside a multirun
        failure = err
        record.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
    record["wall_time_s"] = round(time.perf_counter() - start, 3)
    write_record(out_dir, record)
    if failure is not None:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise failure
        log.error("run failed (the sweep goes on): %s", record["error"])
    log.info("status=%s metrics=%s -> %s", record["status"], record["metrics"], out_dir / "metrics.json")
    value = record["metrics"].get("energy_distance", math.nan)
    return float(value) if value is not None else math.nan
