"""What a config may hold, checked before anything trains (a launcher checks every point, a run itself): the values
(check_values: train ranges, the seed's range, no NaN or infinity) and the keys (check_keys: the schema's, in
gansweep.config, and under the nodes open to keys of their own their plug-in's keywords). A key nothing reads
(`+optim.lrr=1`) is refused with the nearest valid keys, on the command line too (check_override_key)."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

from omegaconf import OmegaConf

from gansweep.config import ConfigError, GansweepConfig
from gansweep.hydra_job import task_nodes

SEED_RANGE = 2**32  # numpy's and torch's seeds: 0 .. 2**32 - 1


def check_values(cfg: Any) -> None:
    """Values no run can train on, found before anything starts (a launcher checks every point with this): the train
    ranges, the seed's range, and no NaN or infinity anywhere (a NaN penalty weight would only show as a divergence).
    `cfg` is a task config, or a composed one (its hydra node is not the task's and is not checked). Keys the schema
    does not have are refused first (check_keys)."""
    check_keys(cfg)
    seed = cfg.get("seed")
    if not isinstance(seed, int) or not 0 <= seed < SEED_RANGE:
        raise ConfigError(f"seed must be an integer in 0 .. 2**32 - 1 (numpy's and torch's), got {seed!r}", "seed")
    check_train(cfg.train)
    for key, node in task_nodes(cfg):
        value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else cfg[key]
        _check_finite(value, key)


def _check_finite(node: Any, key: str) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            _check_finite(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_finite(value, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{key} is {node}: a config value must be a finite number", key)


def check_train(train: Any) -> None:
    """Ranges the types cannot express; the message names the key to change."""
    for key in ("iters", "n_critic", "batch_size", "log_every"):
        if train[key] < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {train[key]}", f"train.{key}")
    if train.generator_batch_size is not None and train.generator_batch_size < 1:
        raise ConfigError(
            f"train.generator_batch_size must be >= 1 or null, got {train.generator_batch_size}",
            "train.generator_batch_size",
        )
    if train.checkpoint_every is not None and train.checkpoint_every < 1:
        raise ConfigError(
            f"train.checkpoint_every is in generator iterations, >= 1 or null; got {train.checkpoint_every}",
            "train.checkpoint_every",
        )
    if train.ema is not None and not 0.0 < train.ema < 1.0:
        raise ConfigError(f"train.ema is a decay in (0, 1) or null, got {train.ema}", "train.ema")


# Keys not in the schema (issue 21): `+optim.lrr=1` adds a key Hydra's struct check would refuse without `+`; nothing
# reads it, so it is refused here with the nearest valid keys. Open to keys the schema does not name:
#   - the `Any`-typed top-level nodes (dataset, arch, loss, constraint, logger, callbacks, metrics): filled by their
#     YAML groups, each plug-in node (one with a `_target_`) takes its target's own keywords, checked against the
#     target's signature (inspect, nothing instantiated; a target that takes **kwargs, or cannot be imported, stays
#     open: instantiating it names the problem);
#   - optim.extra: any keyword of optim._target_ (checked against its signature the same way);
#   - trainer: besides the schema's keys, the keywords of Lightning's Trainer (gansweep passes the node to it), except
#     the ones gansweep sets itself.
OPEN_KEYS_HELP = (
    "open to keys of their own: dataset, arch, loss, constraint, logger, callbacks, metrics (their plug-in's "
    "keywords), optim.extra (the optimizer's keywords), trainer (Lightning Trainer keywords)"
)
SET_BY_GANSWEEP = {  # keywords gansweep passes itself (a second value would fail or be ignored), and where to set them
    "trainer": (
        ("max_epochs", "logger", "callbacks", "enable_checkpointing", "enable_model_summary", "num_sanity_val_steps",
         "default_root_dir", "plugins"),
        "gansweep sets it itself (gansweep.run.fit); the budget is train.iters",
    ),
    "optim.extra": (("params", "lr", "betas"), "gansweep passes it itself: set optim.lr / optim.betas"),
}  # fmt: skip
_PLUGIN = "plugin"  # a top-level `Any` node: its plug-ins' keywords
_OPEN = "open"  # a Dict node (optim.extra)
_LEAF = "leaf"
_schema_cache: Dict[str, Any] = {}
_keywords_cache: Dict[str, Optional[List[str]]] = {}


def _schema(cls: Any = None, root: bool = True) -> Dict[str, Any]:
    """{field: nested dict (a dataclass node) | _PLUGIN | _OPEN | _LEAF} of the schema, from its type hints."""
    import dataclasses
    import typing

    if cls is None:
        if "root" not in _schema_cache:
            _schema_cache["root"] = _schema(GansweepConfig, True)
        return _schema_cache["root"]
    hints = typing.get_type_hints(cls)
    spec: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            spec[f.name] = _schema(kind, False)
        elif typing.get_origin(kind) in (dict, Dict):
            spec[f.name] = _OPEN
        elif kind is Any and root:
            spec[f.name] = _PLUGIN
        else:
            spec[f.name] = _LEAF
    return spec


def _nearest(key: str, names: List[str], prefix: str) -> str:
    """' (did you mean optim.lr?)': the node's keys closest to `key`, as full dotted keys; '' when none is close."""
    import difflib

    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(prefix + name for name in close)}?)" if close else ""


def _keywords(target: str) -> Optional[List[str]]:
    """The keyword parameters of a `_target_` (class or function), without instantiating it; None when they cannot
    be known (not importable, no signature, or **kwargs)."""
    if target not in _keywords_cache:
        import inspect

        names: Optional[List[str]] = None
        try:
            from hydra.utils import get_object

            params = inspect.signature(get_object(target)).parameters.values()
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        except Exception:
            names = None
        _keywords_cache[target] = names
    return _keywords_cache[target]


def _lightning_trainer_keywords() -> List[str]:
    """Lightning Trainer's keywords that a `+trainer.KEY` may set (imported only when such a key is given)."""
    names = _keywords("pytorch_lightning.Trainer") or []
    return [name for name in names if name not in SET_BY_GANSWEEP["trainer"][0]]


def _set_by_gansweep(path: str, key: str) -> None:
    own, where = SET_BY_GANSWEEP.get(path, ((), ""))
    if key in own:
        raise ConfigError(f"{path}.{key} cannot be set: {where}", f"{path}.{key}")


def _target_of(node: Any) -> Optional[str]:
    from omegaconf import DictConfig

    if not isinstance(node, DictConfig) or "_target_" not in node:
        return None
    target = node._get_node("_target_")
    value = target._value() if target is not None else None
    return value if isinstance(value, str) and "${" not in value else None


def _check_plugin(node: Any, path: str, target: str, keys: Any = None) -> None:
    """Every key of a plug-in node (or of `keys`) is a keyword of its target."""
    names = _keywords(target)
    if names is None:
        return
    for key in node.keys() if keys is None else keys:
        key = str(key)
        _set_by_gansweep(path, key)
        if not key.startswith("_") and key not in names:
            names = [name for name in names if name not in SET_BY_GANSWEEP.get(path, ((), ""))[0]]
            group = "optim.extra" if path == "optim.extra" else path.split(".")[0]
            raise ConfigError(
                f"{path}.{key} is not a keyword of {target}{_nearest(key, names, path + '.')}: it takes "
                f"{', '.join(names) or 'no keywords'} ({group} is open to its plug-in's keywords only)",
                f"{path}.{key}",
            )


def _check_plugins(node: Any, path: str) -> None:
    """A top-level plug-in node: one plug-in (`loss`, `dataset`...) or named plug-ins (`constraint`, `callbacks`)."""
    from omegaconf import DictConfig

    if not isinstance(node, DictConfig):
        return
    target = _target_of(node)
    if target is not None:
        _check_plugin(node, path, target)
        return
    for name in node.keys():
        child = node._get_node(name)
        target = _target_of(child)
        if target is not None:
            _check_plugin(child, f"{path}.{name!s}", target)


def _not_in_schema(path: str, key: str, names: List[str]) -> ConfigError:
    full = f"{path}.{key}" if path else key
    where = f"a key of {path}" if path else "a top-level key"
    return ConfigError(
        f"{full} is not {where}{_nearest(key, names, path + '.' if path else '')}: the schema (gansweep/config.py) "
        f"has no such key, and adding it with `+` would not help, as nothing reads it ({OPEN_KEYS_HELP})",
        full,
    )


def check_override_key(key: str) -> None:
    """A command-line override's dotted key (`optim.lrr`, with or without `+`) against the schema's closed nodes
    alone, before anything is composed or imported: a ConfigError with the nearest keys for a key the schema does not
    have. Top-level names (they may be config groups), the open nodes and trainer (Lightning's keywords) are left to
    Hydra and check_keys."""
    parts = key.split(".")
    spec: Any = _schema()
    for i, part in enumerate(parts[:-1] if len(parts) > 1 else []):
        if part not in spec or spec[part] in (_PLUGIN, _OPEN, _LEAF) or part == "trainer" and i == 0:
            return
        spec = spec[part]
        path = ".".join(parts[: i + 1])
        name = parts[i + 1]
        if name not in spec:
            raise _not_in_schema(path, name, list(spec))


def _check_closed(node: Any, items: List[Tuple[str, Any]], spec: Dict[str, Any], path: str) -> None:
    """`items`, the (key, child) pairs of `node`, against a closed schema node."""
    from omegaconf import DictConfig

    for key, child in items:
        full = f"{path}.{key}" if path else key
        kind = spec.get(key)
        if kind is None:
            if path == "trainer":
                _set_by_gansweep(path, key)
            if path == "trainer" and key in _lightning_trainer_keywords():
                continue
            names = list(spec) + (_lightning_trainer_keywords() if path == "trainer" else [])
            raise _not_in_schema(path, key, names)
        if kind == _LEAF:
            continue
        if isinstance(kind, dict):
            if isinstance(child, DictConfig):
                _check_closed(child, [(str(k), child._get_node(k)) for k in child.keys()], kind, full)
        elif kind == _PLUGIN:
            _check_plugins(child, full)
        elif kind == _OPEN and full == "optim.extra" and isinstance(child, DictConfig):
            target = _target_of(node)
            if target is not None:
                _check_plugin(child, full, target)


def check_keys(cfg: Any) -> None:
    """Every key is one the schema has, or is under a node open to keys of its own (OPEN_KEYS_HELP): a ConfigError
    naming the key and the nearest valid ones otherwise. `cfg` is a task config or a composed one (its hydra node is
    skipped). Plug-in targets are imported, not instantiated; their signatures are read once per process."""
    _check_closed(cfg, task_nodes(cfg), _schema(), "")
