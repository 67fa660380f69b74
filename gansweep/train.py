"""The Hydra task: config -> objects -> fit -> evaluate -> metrics.json. Heavy imports happen in here."""

from __future__ import annotations

import logging
import math
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

from omegaconf import DictConfig, OmegaConf

from gansweep.config import check_train
from gansweep.sweep.records import write_record

log = logging.getLogger("gansweep")


def build_constraints(cfg: DictConfig) -> List[Any]:
    """One plug-in per entry under `constraint` (the `none` option contributes nothing)."""
    from hydra.utils import instantiate

    return [instantiate(node) for node in (cfg.constraint or {}).values() if node and "_target_" in node]


def evaluate(datamodule: Any, samples: Any, reference: Any) -> Dict[str, float]:
    """Toy metrics: mode coverage (where the data has modes) and the energy distance to a fresh data sample."""
    from gansweep.metrics.energy import energy_distance
    from gansweep.metrics.modes import mode_metrics

    metrics: Dict[str, float] = {}
    if getattr(datamodule, "modes", None) is not None:
        metrics.update(mode_metrics(samples, datamodule.modes, datamodule.mode_std))
    metrics["energy_distance"] = energy_distance(samples, reference)
    return metrics


def fit_and_evaluate(cfg: DictConfig, out_dir: Path, title: str = "") -> Tuple[str, int, Dict[str, float]]:
    """Train one grid point; returns (status, generator iterations done, metrics). title heads the sample plot."""
    check_train(cfg.train)  # before the heavy imports: a wrong range fails at once
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from gansweep.module import GANModule
    from gansweep.plots import scatter_samples

    _quiet_lightning()
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = instantiate(cfg.dataset, seed=cfg.seed)
    networks = instantiate(cfg.arch, data_shape=datamodule.data_shape)
    loss = instantiate(cfg.loss)
    module = GANModule(
        networks,
        loss,
        build_constraints(cfg),
        optim=cfg.optim,
        iters=cfg.train.iters,
        generator_batch_size=cfg.train.generator_batch_size,
        ema=cfg.train.ema,
        log_every=cfg.train.log_every,
    )
    datamodule.configure_batches(cfg.train.batch_size, cfg.train.n_critic + loss.extra_real_batches, cfg.train.iters)
    trainer = pl.Trainer(
        max_epochs=1,
        logger=instantiate(cfg.logger) if cfg.logger else False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,  # the module logs only every train.log_every generator iterations
        default_root_dir=str(out_dir),
        **OmegaConf.to_container(cfg.trainer),
    )
    trainer.fit(module, datamodule=datamodule)
    status = "diverged" if module.diverged_at is not None else "ok"
    if status == "ok" and cfg.train.checkpoint:
        trainer.save_checkpoint(out_dir / "checkpoints" / "last.ckpt")
    samples = module.sample(cfg.train.eval_samples).cpu()
    reference = datamodule.reference(len(samples))
    metrics = evaluate(datamodule, samples, reference)
    if samples.shape[1:] == (2,):
        title = f"{title} on {datamodule.name}, {module.g_iters} G iters"
        scatter_samples(out_dir / "samples.png", samples, datamodule.modes, reference, title)
    return status, module.g_iters, metrics


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
    record: Dict[str, Any] = {
        "status": "failed",
        "error": None,
        "g_iters": 0,
        "wall_time_s": None,
        "metrics": {},
        "choices": {k: str(v) for k, v in hydra_cfg.runtime.choices.items() if not k.startswith("hydra")},
        "overrides": list(hydra_cfg.overrides.task),
        "seed": cfg.seed,
    }
    start = time.perf_counter()
    failure: Exception | None = None
    try:
        (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        choices = record["choices"]
        title = f"{choices.get('loss', '?')} + {choices.get('constraint', '?')}"
        status, g_iters, metrics = fit_and_evaluate(cfg, out_dir, title)
        record.update(status=status, g_iters=g_iters, metrics=metrics)
        if status == "diverged":
            record["error"] = f"non-finite loss at generator iteration {g_iters}"
            log.warning("run diverged: %s", record["error"])
    except Exception as err:  # recorded, then re-raised only outside a multirun
        failure = err
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()
    record["wall_time_s"] = round(time.perf_counter() - start, 3)
    write_record(out_dir, record)
    if failure is not None:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise failure
        log.error("run failed (the sweep goes on): %s", record["error"])
    log.info("status=%s metrics=%s -> %s", record["status"], record["metrics"], out_dir / "metrics.json")
    value = record["metrics"].get("energy_distance", math.nan)
    return float(value) if value is not None else math.nan
