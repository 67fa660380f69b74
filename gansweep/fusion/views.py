"""Point k of a fused group as its callbacks see an ordinary run: a module view (its iteration count, samples, EMA,
divergence) and a trainer view (its loggers, its data, its own checkpoint file). The callbacks themselves are the
unfused run's, unchanged, so a fused point leaves the files an unfused run leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor
from torch.optim import Optimizer

from gansweep.module import FORCED_FOREACH, GANModule


class PointModule:
    """What a callback reads of point k: the ordinary module's API, answered from the group."""

    def __init__(self, group: GANModule, k: int) -> None:
        self.group, self.k = group, k
        self.ended = False  # its run is over (diverged inside a group that goes on, or the group ended)
        self.ended_at: Optional[int] = None  # the generator iteration it ended at, when before the group's end

    def __getattr__(self, name: str) -> Any:  # z_dim, device, dtype, loss, log_every, last_iteration, g_iters...
        return getattr(self.group, name)

    @property
    def constraints(self) -> Sequence[Any]:
        return self.group.point_specs[self.k].constraints

    @property
    def generator(self) -> torch.nn.Module:
        return self.group.point_specs[self.k].networks.generator

    @property
    def critic(self) -> torch.nn.Module:
        return self.group.point_specs[self.k].networks.critic

    @property
    def ema_generator(self) -> Optional[torch.nn.Module]:
        return self.group._averages[self.k] if self.group._averages else None

    @property
    def latest_curves(self) -> Dict[str, float]:
        return self.group.point_curves[self.k]

    @property
    def diverged_at(self) -> Optional[int]:
        return self.group.diverged[self.k]

    def check_divergence(self) -> bool:
        self.group.check_divergence()
        return self.group.diverged[self.k] is not None

    def sample(self, n: int, batch_size: int = 4096) -> Tensor:
        return self.group.sample(n, batch_size, point=self.k)

    def generate(self, z: Tensor) -> Tensor:
        return self.group.generate(z, point=self.k)

    def to(self, *args: Any, **kwargs: Any) -> "PointModule":
        self.group.to(*args, **kwargs)
        return self

    def state_dict(self) -> Dict[str, Tensor]:
        """The unfused module's state dict: generator.*, critic.* and ema_generator.* of this point."""
        state = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        state.update({f"critic.{k}": v for k, v in self.critic.state_dict().items()})
        if self.ema_generator is not None:
            state.update({f"ema_generator.{k}": v for k, v in self.ema_generator.state_dict().items()})
        return state

    def load_state_dict(self, state: Dict[str, Tensor]) -> None:
        for prefix, network in (
            ("generator.", self.generator),
            ("critic.", self.critic),
            ("ema_generator.", self.ema_generator),
        ):
            if network is not None:
                network.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})


class PointTrainer:
    """What a callback reads of the trainer for point k: its loggers, its data module, its checkpoint; anything else
    (should_stop, strategy...) is the group's trainer."""

    def __init__(
        self, trainer: Any, module: PointModule, loggers: Sequence[Any], datamodule: Any, callbacks: Sequence[Any]
    ) -> None:
        self.__dict__.update(_trainer=trainer, module=module, loggers=list(loggers), datamodule=datamodule)
        self.__dict__["callbacks"] = list(callbacks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_trainer"], name)

    def __setattr__(self, name: str, value: Any) -> None:  # should_stop and the like reach the group's trainer
        setattr(self.__dict__["_trainer"], name, value)

    @property
    def logger(self) -> Any:
        return self.loggers[0] if self.loggers else None

    def save_checkpoint(self, path: Any) -> None:
        """Point k's checkpoint as its unfused run writes it: its networks, its optimizer and scheduler states, its
        callbacks' states, and whatever its callbacks' on_save_checkpoint adds (gansweep's part)."""
        checkpoint = point_checkpoint(self.__dict__["_trainer"], self.module)
        callbacks = self.__dict__["callbacks"]
        checkpoint["callbacks"] = {cb.state_key: cb.state_dict() for cb in callbacks if cb.state_dict()}
        for callback in callbacks:
            callback.on_save_checkpoint(self, self.module, checkpoint)
        torch.save(checkpoint, Path(path))


def point_checkpoint(trainer: Any, module: PointModule) -> Dict[str, Any]:
    """The parts of Lightning's checkpoint a resumed run reads (gansweep.callbacks.restore), for point k alone."""
    schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
    return {
        "state_dict": module.state_dict(),
        "optimizer_states": [point_optimizer_state(opt.state_dict(), module.k) for opt in trainer.optimizers],
        "lr_schedulers": [point_scheduler_state(s.state_dict(), module.k, module.group.n_points) for s in schedulers],
        "pytorch-lightning_version": _lightning_version(),
    }


def point_optimizer_state(state: Dict[str, Any], k: int) -> Dict[str, Any]:
    """Parameter group k of a group's optimizer state as an optimizer over point k's parameters alone."""
    group = dict(state["param_groups"][k])
    ids = list(group["params"])
    if group.pop(FORCED_FOREACH, False):  # the group's choice, not the point's
        group["foreach"] = None
    return {
        "state": {i: state["state"][old] for i, old in enumerate(ids) if old in state["state"]},
        "param_groups": [dict(group, params=list(range(len(ids))))],
    }


def merge_optimizer_states(states: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The inverse of point_optimizer_state: each point's one-group state as one group per point, in point order."""
    merged: Dict[str, Any] = {"state": {}, "param_groups": []}
    offset = 0
    for state in states:
        (group,) = state["param_groups"]
        n = len(group["params"])
        merged["state"].update({offset + int(i): value for i, value in state["state"].items()})
        merged["param_groups"].append(dict(group, params=list(range(offset, offset + n))))
        offset += n
    return merged


def point_scheduler_state(state: Dict[str, Any], k: int, n_points: int) -> Dict[str, Any]:
    """A scheduler's state for point k: entries kept per parameter group (base_lrs, _last_lr, lr_lambdas) cut to
    group k; the step count is shared."""
    return {key: [value[k]] if _per_group(value, n_points) else value for key, value in state.items()}


def merge_scheduler_states(states: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The inverse of point_scheduler_state."""
    first = states[0]
    return {key: [s[key][0] for s in states] if _per_group(value, 1) else value for key, value in first.items()}


def _per_group(value: Any, n_groups: int) -> bool:
    return isinstance(value, list) and len(value) == n_groups


def load_point_states(optimizers: Sequence[Optimizer], per_point: Sequence[List[Dict[str, Any]]]) -> None:
    """Each group optimizer from every point's own state of it (per_point[k][i]: point k's state of optimizer i)."""
    for i, optimizer in enumerate(optimizers):
        optimizer.load_state_dict(merge_optimizer_states([states[i] for states in per_point]))


def _lightning_version() -> str:
    import pytorch_lightning as pl

    return pl.__version__
