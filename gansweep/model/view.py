"""What a callback reads of a run, as two small protocols, and point k's view of a model that implements them.

A callback of the run (progress bar, stop signal, device settings) reads the RunClock; a callback of a point
(evaluation, samples, checkpoint, a user's) reads the RunView of its point. The model (GANModule) is a RunClock;
PointView(module, k) is point k's RunView, answered from the module's parts: the same view whether the model holds
one point or a fused group of K, so a point's callbacks run unchanged either way.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor, nn

from gansweep.constraints.base import Constraint
from gansweep.losses.base import GANLoss
from gansweep.model.module import GANModule


@runtime_checkable
class RunClock(Protocol):
    """Where a run stands: its generator iteration, the one it ends at, its log interval and device, and the latest
    training curves (train/*, logged every log_every generator iterations)."""

    @property
    def g_iters(self) -> int: ...

    @property
    def last_iteration(self) -> int: ...

    @property
    def log_every(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def latest_curves(self) -> Dict[str, float]: ...


@runtime_checkable
class RunView(RunClock, Protocol):
    """One point's run as its callbacks see it: its networks, objective and constraints, its samples, its EMA
    generator and its divergence."""

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def z_dim(self) -> int: ...

    @property
    def loss(self) -> GANLoss: ...

    @property
    def constraints(self) -> Sequence[Constraint]: ...

    @property
    def generator(self) -> nn.Module: ...

    @property
    def critic(self) -> nn.Module: ...

    @property
    def ema_generator(self) -> Optional[nn.Module]: ...

    @property
    def diverged_at(self) -> Optional[int]: ...

    def check_divergence(self) -> bool: ...

    def prune(self) -> None: ...

    def sample(self, n: int, batch_size: int = 4096) -> Tensor: ...

    def generate(self, z: Tensor) -> Tensor: ...


class PointView:
    """Point k of a GANModule as a RunView (and its networks' state in the unfused checkpoint format)."""

    def __init__(self, module: GANModule, k: int) -> None:
        self.module, self.k = module, k

    @property
    def g_iters(self) -> int:
        ended = self.module.health.points[self.k].ended_at
        return ended if ended is not None else self.module.own_iters(self.k)

    @property
    def last_iteration(self) -> int:
        return self.module.last_iteration

    @property
    def log_every(self) -> int:
        return self.module.log_every

    @property
    def device(self) -> torch.device:
        return self.module.device

    @property
    def dtype(self) -> torch.dtype:
        return self.module.dtype  # type: ignore[return-value]

    @property
    def latest_curves(self) -> Dict[str, float]:
        return self.module.point_curves[self.k]

    @property
    def z_dim(self) -> int:
        return self.module.stack.z_dim

    @property
    def loss(self) -> GANLoss:
        return self.module.loss

    @property
    def constraints(self) -> Sequence[Constraint]:
        return self.module.stack.points[self.k].constraints

    @property
    def generator(self) -> nn.Module:
        return self.module.stack.points[self.k].networks.generator

    @property
    def critic(self) -> nn.Module:
        return self.module.stack.points[self.k].networks.critic

    @property
    def ema_generator(self) -> Optional[nn.Module]:
        averages = self.module.stack.averages
        return averages[self.k] if averages else None

    @property
    def diverged_at(self) -> Optional[int]:
        return self.module.health.points[self.k].diverged_at

    def prune(self) -> None:
        """An adaptive sweep's pruner stopped this point after this iteration's evaluation (gansweep.model.module)."""
        self.module.prune_point(self.k)

    def check_divergence(self) -> bool:
        """Reads the device-side flags now (a host synchronisation): whether this point has diverged."""
        self.module.health.read(self.module.g_iters, [self.k])  # its own flag only: the others read at their intervals
        return self.diverged_at is not None

    def sample(self, n: int, batch_size: int = 4096) -> Tensor:
        module = self.module
        return module.sampler.sample(self.k, n, self.g_iters, module.device, self.dtype, batch_size)

    def generate(self, z: Tensor) -> Tensor:
        return self.module.sampler.generate(self.k, z, self.device, self.dtype)

    def state_dict(self) -> Dict[str, Tensor]:
        """The unfused run's module state dict: generator.*, critic.* and ema_generator.* of this point (copies: a fused
        point's tensors are views of its group's, gansweep.model.stacked)."""
        state = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        state.update({f"critic.{k}": v for k, v in self.critic.state_dict().items()})
        if self.ema_generator is not None:
            state.update({f"ema_generator.{k}": v for k, v in self.ema_generator.state_dict().items()})
        return {key: value.clone() for key, value in state.items()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for prefix, network in (
            ("generator.", self.generator),
            ("critic.", self.critic),
            ("ema_generator.", self.ema_generator),
        ):
            if network is not None:
                network.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
