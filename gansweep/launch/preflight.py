"""Checks a sweep makes once before any point starts: each distinct metrics setting's own `preflight` (the
Inception weights are found, or downloaded once on the submitting machine). A failure stops the sweep with the
metric's message (exit status 1, no traceback), before any job is started or submitted."""

from __future__ import annotations

import logging
from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def preflight(configs: Iterable[DictConfig]) -> None:
    """Run the evaluation class's preflight(metrics) once per distinct `metrics` node among the points."""
    from hydra.utils import get_class

    seen = set()
    for cfg in configs:
        metrics: Any = cfg.get("metrics")
        target = metrics.get("_target_") if metrics else None
        key = OmegaConf.to_yaml(metrics) if target else None
        if key is None or key in seen:
            continue
        seen.add(key)
        check = getattr(get_class(str(target)), "preflight", None)
        try:
            if check is not None:
                check(metrics)
        except Exception as err:
            log.error(f"{err}\nNo point was started: fix this, then run the same command again.")
            raise SystemExit(1) from None
