"""Which points of a sweep can train as one fused model: those whose configs differ only in fusible values.

Fusible (per point inside a group): the seed, learning rates, Adam betas, a gradient penalty's weight (lambda), the
weight-clipping value, the EMA decay and an adaptive sweep's trial number. Anything else (architecture, dataset,
loss, constraint types, batch size, n_critic, budget, optimizer class, Hydra's job environment, ...) separates
groups, and a point that changes into its own folder (hydra.job.chdir) or scales float16 gradients
(trainer.precision=16-mixed) runs alone.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("gansweep")

FUSIBLE_KEYS = ("seed", "optim.lr", "optim.lr_generator", "optim.lr_critic", "optim.betas", "train.ema", "search.trial")
FUSIBLE_CONSTRAINT_KEYS = ("weight", "clip")  # constraint.<name>.weight (lambda), constraint.<name>.clip
FLOAT16_SCALED = ("16", "16-mixed")  # Lightning's precisions that scale the loss with one GradScaler
TRAINING_NODES = ("dataset", "arch", "loss", "constraint", "train", "optim", "trainer")  # what a fit reads once


def fusion_key(config: DictConfig) -> str:
    """The point's config (hydra node aside, interpolations unresolved) with its fusible values blanked: points
    with equal keys can train together. Whether train.ema is set stays in the key (a group keeps EMA for all or
    none)."""
    tree = OmegaConf.to_container(config, resolve=False, enum_to_str=True)
    assert isinstance(tree, dict)
    job = tree.pop("hydra", {}).get("job", {})
    ema_set = OmegaConf.select(config, "train.ema", default=None) is not None
    _blank(tree)
    tree["_ema_set"] = ema_set
    tree["_env_set"] = job.get("env_set")  # the group runs under one environment
    return json.dumps(tree, sort_keys=True, default=str)


def fusible(key: str) -> bool:
    """Whether a config key (a sweep's, `+`/`~` prefixes allowed) is one whose values the points of a group may
    differ in."""
    key = key.lstrip("+~")
    parts = key.split(".")
    return key in FUSIBLE_KEYS or len(parts) == 3 and parts[0] == "constraint" and parts[2] in FUSIBLE_CONSTRAINT_KEYS


def never_fused(config: DictConfig) -> Optional[str]:
    """Why a point must run alone, or None: a job that changes into its own folder (one process cannot be in K
    folders), or float16 mixed precision (one gradient scaler would skip every point's step for one's overflow)."""
    if OmegaConf.select(config, "hydra.job.chdir", default=None):
        return "hydra.job.chdir=true"
    if str(OmegaConf.select(config, "trainer.precision", default="")) in FLOAT16_SCALED:
        return f"trainer.precision={OmegaConf.select(config, 'trainer.precision')}"
    return None


def _blank(tree: Dict[Any, Any]) -> None:
    for dotted in FUSIBLE_KEYS:
        node: Any = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node[leaf] = "<fusible>"
    for entry in (tree.get("constraint") or {}).values():
        if isinstance(entry, dict):
            for key in FUSIBLE_CONSTRAINT_KEYS:
                if key in entry:
                    entry[key] = "<fusible>"


def check_fuse(fuse: Any) -> int:
    """`hydra.launcher.fuse` as the number of points per group; raises ValueError naming the key otherwise (each
    launcher checks it before anything starts)."""
    if not isinstance(fuse, int) or isinstance(fuse, bool) or fuse < 1:
        raise ValueError(f"hydra.launcher.fuse is the number of points trained as one model, >= 1; got {fuse!r}")
    return fuse


def group_points(configs: Sequence[DictConfig], fuse: int) -> List[List[int]]:
    """Indices of `configs` in groups of at most `fuse` points with equal fusion keys, in the sweep's order (a
    group is listed where its first point is); fuse = 1: every point alone."""
    check_fuse(fuse)
    open_groups: Dict[str, List[int]] = {}
    groups: List[List[int]] = []
    for index, config in enumerate(configs):
        key = fusion_key(config) if fuse > 1 and never_fused(config) is None else str(index)
        group = open_groups.get(key)
        if group is None or len(group) == fuse:
            group = open_groups[key] = []
            groups.append(group)
        group.append(index)
    return groups


def fit_groups(cfgs: Sequence[DictConfig]) -> List[List[int]]:
    """The points of one job in groups that can share a fit (it reads the non-fusible values once, from its first
    point): resolved training configs equal but for fusible values, and never a float16-scaled point with another
    (one gradient scaler would skip every point's step for one's overflow). Points the launcher fused but that
    differ once resolved (`train.n_critic=${seed}`) train one fit after another, with a warning naming the keys."""
    groups: Dict[str, List[int]] = {}
    views = [_training_view(cfg) for cfg in cfgs]
    for i, (cfg, view) in enumerate(zip(cfgs, views, strict=True)):
        key = f"alone {i}" if never_fused(cfg) is not None else json.dumps(view, sort_keys=True, default=str)
        groups.setdefault(key, []).append(i)
    if len(groups) > 1:
        first = views[0]
        differing = sorted({k for view in views[1:] for k in first.keys() | view.keys() if first.get(k) != view.get(k)})
        log.warning(
            "these %d points cannot share one fit (%s differ once resolved; only %s, constraint.*.weight/clip may, and "
            "float16 loss scaling never): they train as %d fits",
            len(cfgs),
            ", ".join(differing) or "trainer.precision",
            ", ".join(FUSIBLE_KEYS),
            len(groups),
        )
    return list(groups.values())


def _training_view(cfg: DictConfig) -> Dict[str, Any]:
    tree = {
        node: OmegaConf.to_container(cfg[node], resolve=True, enum_to_str=True)
        for node in TRAINING_NODES
        if node in cfg
    }
    tree["seed"] = None
    _blank(tree)
    tree["_ema_set"] = cfg.train.get("ema") is not None
    return _flatten(tree)


def _flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: Dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
