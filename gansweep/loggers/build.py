"""A point's loggers from the `logger` group, built before training so that a point failing at any stage still has
its W&B run, and closed with the point's record whatever happened."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable, List, Mapping

from gansweep.instantiate import instantiate_plain

log = logging.getLogger("gansweep")


def build_loggers(cfg: Any, identity: Callable[[], Mapping[str, Any]]) -> List[Any]:
    """One Lightning logger per entry of `logger` (csv, wandb), in config order; a W&B logger takes the point's
    `identity()` (gansweep.loggers.identity.point_identity, computed only then) for what its config leaves null."""
    from gansweep.loggers.wandb_run import WandbRunLogger

    loggers = []
    for node in (cfg.logger or {}).values():
        if node and node.get("_target_"):
            logger = instantiate_plain(node)
            if isinstance(logger, WandbRunLogger):
                logger.identify(**identity())
            loggers.append(logger)
    return loggers


def close_loggers(loggers: List[Any], record: Mapping[str, Any], finish_others: bool = True) -> None:
    """Hand each logger the point's final record (W&B: summary, then wandb.finish()); then, with `finish_others`
    (not while other points of a fused group are still to close), any W&B run still open in this process is
    finished too, so the next job in a reused worker never inherits it."""
    for logger in loggers:
        if hasattr(logger, "close_point"):
            logger.close_point(record)
    wandb = sys.modules.get("wandb")
    if finish_others and wandb is not None and getattr(wandb, "run", None) is not None:
        try:
            wandb.finish()
        except Exception as err:  # W&B never fails a point: its record is already written
            log.warning("wandb.finish() failed (%s: %s)", type(err).__name__, err)
