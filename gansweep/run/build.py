"""A point's parts from its config: data module, loss, GANPoint (networks, constraints, optimizers), its own callbacks,
and the module settings it shares with its group."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from omegaconf import DictConfig

from gansweep.config import update_scheme
from gansweep.config_checks import check_values
from gansweep.instantiate import instantiate_entries, instantiate_plain


def build_constraints(cfg: DictConfig) -> List[Any]:
    """One plug-in per entry under `constraint` (the `none` option contributes nothing)."""
    return instantiate_entries(cfg.constraint)


def build_point(cfg: DictConfig) -> Tuple[Any, Any, Any]:
    """(data module, loss, GANPoint) of one grid point, built under its seed in one fixed order, so the point
    initialises the same alone and in a fused group. Missing data fails first, before any network."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from gansweep.model.points import GANPoint
    from gansweep.optim import optimizer_factories

    check_values(cfg)  # a wrong range, seed or NaN fails this point at once, before anything is built
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = instantiate_plain(cfg.dataset, seed=cfg.seed)
    loss = instantiate(cfg.loss)
    networks = instantiate(cfg.arch, data_shape=datamodule.data_shape)
    point = GANPoint(networks, build_constraints(cfg), optimizer_factories(cfg.optim), cfg.train.ema, cfg.seed)
    return datamodule, loss, point


def point_callbacks(cfg: DictConfig) -> List[Any]:
    """The point's own callbacks: its evaluation first (its numbers survive a later failure), then `callbacks.*`
    (samples, checkpoint). Interpolations read the point's Hydra config (its run folder)."""
    from gansweep.callbacks.checkpoint import RunCheckpoint
    from gansweep.record import identity

    callbacks = [*instantiate_entries({"metrics": cfg.metrics}), *instantiate_entries(cfg.callbacks)]
    for callback in callbacks:
        if isinstance(callback, RunCheckpoint):  # a resume checks the checkpoint was trained on this config
            callback.config = identity(cfg)
    search = cfg.get("search")
    if search is not None and search.get("trial") is not None:  # a trial of an adaptive sweep reports to its study
        from gansweep.callbacks.trial import TrialReport

        metric = search.metric or headline(cfg)
        callbacks.insert(
            1 if cfg.metrics.get("_target_") else 0, TrialReport(search.storage, search.study, search.trial, metric)
        )
    return callbacks


def headline(cfg: DictConfig) -> str:
    """The metric a sweep of this point optimises when it names none: its evaluation's headline."""
    from hydra.utils import get_class

    target = cfg.metrics.get("_target_") if cfg.get("metrics") else None
    if not target:
        raise ValueError("an adaptive sweep needs an evaluation to report: set metrics (and metrics.every for pruning)")
    evaluation: Any = get_class(target)
    return str(evaluation.headline(cfg))


def module_options(cfg: DictConfig) -> Dict[str, Any]:
    """The GANModule keywords a point's config sets (a fused group takes its first point's: they are equal)."""
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
