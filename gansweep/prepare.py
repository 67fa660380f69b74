"""`gansweep-prepare OVERRIDES...`: compute a run's real-data statistics (and the digit classifier) into the metrics
cache ahead of a sweep, so that no point of the sweep computes them and a missing file shows before any job starts."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from omegaconf import DictConfig

log = logging.getLogger("gansweep")


def compose(overrides: Sequence[str]) -> DictConfig:
    """The task config `gansweep OVERRIDES` would run (no run folder is made)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gansweep.config import register_schema
    from gansweep.paths import conf_dir
    from gansweep.templates import register_templates

    register_schema()
    register_templates()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def prepare(cfg: DictConfig, device: Optional[str] = None) -> Dict[str, Any]:
    """Build the run's dataset and image evaluation, then load or compute its real features; returns what was
    prepared (the evaluation's protocol for the real side). Nothing to prepare for metrics without real features."""
    import torch

    from gansweep.callbacks.image_evaluation import FeatureEvaluation
    from gansweep.instantiate import instantiate_plain

    if not (cfg.metrics and cfg.metrics.get("_target_")):
        raise ValueError("metrics=none: nothing to prepare (choose metrics=inception or metrics=digits)")
    datamodule = instantiate_plain(cfg.dataset, seed=cfg.seed)  # missing data fails here, in milliseconds
    evaluation = instantiate_plain(cfg.metrics)  # missing weights fail here, with their own error
    if not isinstance(evaluation, FeatureEvaluation):
        raise ValueError(f"metrics={type(evaluation).__name__} computes no real-data statistics: nothing to prepare")
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    start = time.perf_counter()
    evaluation.prepare(datamodule, target)
    return {
        **evaluation.extractor_info,
        **evaluation.real_protocol,
        "seconds": round(time.perf_counter() - start, 3),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="gansweep-prepare",
        description="Compute the real-data statistics a run or sweep will score against (FID/KID/precision-recall "
        "features, the digit classifier) into metrics.cache_dir, once. Give the overrides of the run, e.g. "
        "gansweep-prepare protocol=bolt_images dataset=cifar10 dataset.root=PATH metrics.inception_weights=PATH",
    )
    parser.add_argument("overrides", nargs="*", help="the run's overrides (dataset, metrics.*)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    try:
        prepared = prepare(compose(args.overrides), args.device)
    except (ValueError, FileNotFoundError) as err:  # a config to fix, a missing dataset or weights file
        print(f"gansweep-prepare: {err}", file=sys.stderr)
        return 1
    print(json.dumps(prepared, indent=2, default=str))
    if prepared.get("real_cache"):
        print(f"gansweep-prepare: real features in {Path(prepared['real_cache'])}")
    return 0
