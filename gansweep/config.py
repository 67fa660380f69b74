"""Structured schema of the primary config: typed keys fail at composition, before any heavy import."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, OmegaConf


class ConfigError(ValueError):
    """A config value or input file that cannot work, found before anything trains; the message says what to change.
    `key` names the config key at fault (None for an input file), so a launcher can tell a value every grid point
    shares from one a single point was given."""

    def __init__(self, message: str, key: Optional[str] = None) -> None:
        super().__init__(message)
        self.key = key


class FailedPolicy(str, Enum):
    """What running the task again does to a point whose metrics.json says `failed`."""

    skip = "skip"  # keep its record (the default: a failure is a result until you ask otherwise)
    rerun = "rerun"  # from scratch
    resume = "resume"  # from its last checkpoint (from scratch when it has none)


class LRDecay(str, Enum):
    none = "none"
    linear = "linear"  # to 0 over train.iters generator iterations (WGAN-GP ResNet, LGAN)


class UpdateScheme(str, Enum):
    """How a generator iteration's critic and generator updates are ordered."""

    alternating = "alternating"  # n_critic critic steps, then a generator step against the updated critic
    simultaneous = "simultaneous"  # the last critic step and the generator step from one forward pass (Bures GAN)


@dataclass
class OptimConfig:
    _target_: str = "torch.optim.Adam"
    lr: float = 1e-4
    betas: Optional[List[float]] = None  # Adam-family only
    lr_generator: Optional[float] = None  # overrides optim.lr for G
    lr_critic: Optional[float] = None  # overrides optim.lr for the critic
    decay: LRDecay = LRDecay.none
    extra: Dict[str, Any] = field(default_factory=dict)  # any other optimizer keyword


@dataclass
class TrainConfig:
    iters: int = 2000  # budget in GENERATOR iterations (not Lightning's global_step)
    n_critic: int = 5  # critic steps per generator iteration, each on a fresh real batch and fresh z
    batch_size: int = 256  # real (critic) batch
    generator_batch_size: Optional[int] = None  # defaults to batch_size (LGAN uses 2x)
    update: UpdateScheme = UpdateScheme.alternating  # alternating | simultaneous (Bures GAN's, with n_critic 1)
    ema: Optional[float] = None  # generator EMA decay; evaluation uses the EMA weights when set
    log_every: int = 50  # in generator iterations; also how often the divergence flag is read
    sample_every: Optional[int] = 1000  # sample figures every N generator iterations (conf/callbacks/samples)
    checkpoint_every: Optional[int] = None  # checkpoints/last.ckpt every N generator iterations; null: at the end only
    tf32: Any = "auto"  # auto (on CUDA) | true | false
    channels_last: Any = "auto"  # auto (on CUDA) | true | false


@dataclass
class TrainerConfig:
    accelerator: str = "auto"
    devices: Any = 1
    precision: Any = "32-true"
    enable_progress_bar: bool = False


class ChangedPolicy(str, Enum):
    """What running the task again does to a point whose folder was trained on another config."""

    refuse = "refuse"  # stop before anything trains, naming the keys that differ (the default: the record stays true)
    fresh = "fresh"  # train it again from scratch on the new config (the old record and checkpoint are kept aside)


@dataclass
class ResumeConfig:
    failed: FailedPolicy = FailedPolicy.skip  # a point recorded as failed: skip | rerun | resume
    changed: ChangedPolicy = ChangedPolicy.refuse  # a point trained on another config: refuse | fresh


@dataclass
class GansweepConfig:
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    dataset: Any = MISSING
    arch: Any = MISSING
    loss: Any = MISSING
    constraint: Any = field(default_factory=dict)  # name -> constraint node; several stack
    logger: Any = None
    callbacks: Any = field(default_factory=dict)  # name -> Lightning callback node (conf/callbacks/)
    metrics: Any = field(default_factory=dict)  # one evaluation callback node, or empty (conf/metrics/)


def mul(a: Any, b: Any) -> Any:
    """`${gansweep.mul:2,${train.batch_size}}`: a product in a config (LGAN's generator batch is twice the critic's)."""
    return a * b


def register_resolvers() -> None:
    """gansweep's OmegaConf resolvers; run on import, so every process that reads a gansweep config has them."""
    if not OmegaConf.has_resolver("gansweep.mul"):
        OmegaConf.register_new_resolver("gansweep.mul", mul)


register_resolvers()


def register_schema() -> None:
    """Make the schema available to conf/config.yaml's defaults list as `gansweep_schema`."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="gansweep_schema", node=GansweepConfig)


def update_scheme(train: Any) -> str:
    """train.update as a string; read by key, as `train.update` is DictConfig's own update method."""
    value = train.get("update", UpdateScheme.alternating)
    return str(getattr(value, "value", value))


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
    for key in cfg:
        if key != "hydra":
            node = cfg._get_node(key)
            value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else cfg[key]
            _check_finite(value, str(key))


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


def _check_closed(node: Any, spec: Dict[str, Any], path: str) -> None:
    from omegaconf import DictConfig

    for key in node.keys():
        key = str(key)
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
        child = node._get_node(key)
        if isinstance(kind, dict):
            if isinstance(child, DictConfig):
                _check_closed(child, kind, full)
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
    _check_closed(_WithoutHydra(cfg), _schema(), "")


class _WithoutHydra:
    """A config's top level without its `hydra` node (no copy)."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def keys(self) -> List[Any]:
        return [key for key in self.cfg.keys() if key != "hydra"]

    def _get_node(self, key: Any) -> Any:
        return self.cfg._get_node(key)
