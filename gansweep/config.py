"""Structured schema of the primary config: typed keys fail at composition, before any heavy import."""

from __future__ import annotations

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
class SearchTrialConfig:
    """Set by an adaptive sweep (hydra/sweeper=adaptive) on each of its trials: the study its evaluations are reported
    to, and whose pruner may stop it (gansweep.callbacks.trial). Not part of a point's identity."""

    storage: Optional[str] = None  # the study's Optuna storage URL
    study: Optional[str] = None  # the study's name
    trial: Optional[int] = None  # the trial's number in the study; null: not a trial of a study
    metric: Optional[str] = None  # the metric reported at each evaluation


@dataclass
class GansweepConfig:
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    search: SearchTrialConfig = field(default_factory=SearchTrialConfig)
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
