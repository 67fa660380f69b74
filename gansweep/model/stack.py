"""K >= 1 points as one batched model: each network is the points' own modules run as one torch.func.vmap over their
stacked tensors (K = 1: the module itself), penalties are fused (per-point lambda), and each point keeps its EMA.

Each point keeps its ordinary module (its own parameters, buffers and parametrizations), so whatever acts on a
module acts per point: spectral norm's power iteration runs on each point's weight when that weight is read, weight
clipping clamps each point's parameters, a stock optimizer holds one parameter group per point, and point k's
checkpoint is an ordinary run's. A point out of training (diverged, failed) is routed out: its slot computes with
another training point's tensors, detached, so it neither trains nor feeds non-finite values or errors to the
batched calls, and the other slots compute exactly what they would beside it.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gansweep.constraints.base import Constraint
from gansweep.model.health import Health
from gansweep.model.points import GANPoint, same


def plain_twin(module: nn.Module) -> nn.Module:
    """A copy of `module` without parametrizations (each parametrized tensor becomes a plain parameter), on the meta
    device: only its structure and forward are used, with the points' tensors passed in."""
    twin = copy.deepcopy(module)
    for sub in list(twin.modules()):
        if parametrize.is_parametrized(sub):
            # not parametrize.remove_parametrizations: it deletes the property from the parametrized class, which
            # the copy shares with every point's module
            with torch.no_grad():
                values = {name: getattr(sub, name).detach() for name in sub.parametrizations}  # type: ignore[union-attr]
            sub.__class__ = sub.__class__.__bases__[0]
            del sub._modules["parametrizations"]
            for name, value in values.items():
                sub.register_parameter(name, nn.Parameter(value))
    return twin.to("meta")


def owners(module: nn.Module, names: Sequence[str]) -> List[Tuple[nn.Module, str]]:
    """(submodule, attribute) of each dotted name: looked up once, read at every call (a parametrized weight is
    computed on reading: spectral norm's power iteration runs; parameters and buffers are the module's own)."""
    pairs = []
    for name in names:
        owner_name, _, attr = name.rpartition(".")
        pairs.append((module.get_submodule(owner_name) if owner_name else module, attr))
    return pairs


class StackedNetwork(nn.Module):
    """The points' networks (identical architectures) as one module: forward(x [K, N, ...], *args) -> [K, N, ...].
    `route[k]` is the point whose tensors slot k computes with: k itself while it trains, another (detached) after."""

    def __init__(self, points: Sequence[nn.Module]) -> None:
        super().__init__()
        if not points:
            raise ValueError("a stacked network needs at least one point")
        self.points = nn.ModuleList(points)
        self.route = list(range(len(points)))
        twin = plain_twin(points[0])
        self._names = ([name for name, _ in twin.named_parameters()], [name for name, _ in twin.named_buffers()])
        self._owners = [(owners(point, self._names[0]), owners(point, self._names[1])) for point in points]
        self._twin: Tuple[nn.Module] = (twin,)  # a tuple: not registered, never moved or saved with the points

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Any:
        if len(self.points) == 1:  # one point: the module itself, with the leading point dim kept
            out = self.points[0](x[0], *args, **kwargs)
            return tuple(o.unsqueeze(0) for o in out) if isinstance(out, tuple) else out.unsqueeze(0)
        read = {k: self._read(k) for k in dict.fromkeys(self.route)}  # each point's tensors read once
        params = self._stack(read, 0)
        buffers = self._stack(read, 1, detach=True)
        twin = self._twin[0]
        twin.train(self.points[0].training)

        def call(p: Dict[str, Tensor], b: Dict[str, Tensor], xi: Tensor) -> Any:
            return torch.func.functional_call(twin, (p, b), (xi, *args), kwargs, strict=True)

        out = torch.func.vmap(call, randomness="different")(params, buffers, x)
        self._write_back(buffers)
        return out

    def _read(self, k: int) -> Tuple[List[Tensor], List[Tensor]]:
        params, buffers = self._owners[k]
        return [getattr(owner, attr) for owner, attr in params], [getattr(owner, attr) for owner, attr in buffers]

    def _stack(self, read: Dict[int, Tuple[List[Tensor], List[Tensor]]], kind: int, detach: bool = False) -> Any:
        stacked = {}
        for index, name in enumerate(self._names[kind]):
            tensors = []
            for slot, member in enumerate(self.route):
                tensor = read[member][kind][index]
                tensors.append(tensor.detach() if detach or member != slot else tensor)
            stacked[name] = torch.stack(tensors)
        return stacked

    def _write_back(self, buffers: Dict[str, Tensor]) -> None:
        """Buffers the call updated in place (batch norm's running statistics) back into each training point's own."""
        if not self.points[0].training:
            return
        with torch.no_grad():
            for name, stacked in buffers.items():
                for slot, (member, value) in enumerate(zip(self.route, stacked.unbind(0), strict=True)):
                    if member == slot:
                        self.points[slot].get_buffer(name).copy_(value)


class GANStack(nn.Module):
    """The points' generators and critics as StackedNetworks, the constraints' penalties fused (slot j: the j-th
    constraint of every point, per-point lambda), and one EMA generator per point when train.ema is set. Which points
    train is `health`'s (gansweep.model.health): a point whose run ended is routed out."""

    def __init__(self, points: Sequence[GANPoint], health: Optional[Health] = None) -> None:
        super().__init__()
        if not points:
            raise ValueError("a model trains at least one point")
        self.points = list(points)  # a plain list: the networks are registered through generator and critic
        self.health = health if health is not None else Health(len(self.points), on_end=lambda k: self.reroute())
        self.z_dim: int = same("arch z_dim", [p.networks.z_dim for p in points])
        self.generator = StackedNetwork([p.networks.generator for p in points])
        self.critic = StackedNetwork([p.networks.critic for p in points])
        same("constraint types", [[type(c).__name__ for c in p.constraints] for p in points])
        slots = zip(*(p.constraints for p in points), strict=True)
        self.penalties: List[Constraint] = [type(slot[0]).fuse(slot) for slot in slots]
        same("whether train.ema is set", [p.ema is None for p in points])
        self.averages: List[AveragedModel] = [  # each point's EMA generator; none without train.ema
            AveragedModel(p.networks.generator, multi_avg_fn=get_ema_multi_avg_fn(p.ema), use_buffers=True)
            for p in points
            if p.ema is not None
        ]
        self.ema = nn.ModuleList(self.averages)  # registered: moved with the model
        # batch norm mixes the statistics of real and fake when they share a pass: the critic scores them apart
        self.critic_has_batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.critic.modules())

    @property
    def training_points(self) -> List[int]:
        return self.health.training()

    def reroute(self) -> None:
        """Each point out of training computes with the first training point's tensors, detached (with none left the
        routes stay as they were: the module takes no more steps, gansweep.model.module)."""
        training = self.training_points
        if training:
            self.set_routes([k if k in training else training[0] for k in range(len(self.points))])

    def route_all(self, member: int) -> List[int]:
        """Every slot computes with `member`'s tensors (a probe of that point alone); returns the routes to restore."""
        saved = list(self.critic.route)
        for network in (self.generator, self.critic):
            network.route = [member] * len(self.points)
        return saved

    def set_routes(self, route: Sequence[int]) -> None:
        for network in (self.generator, self.critic):
            network.route = list(route)

    def parameters_of(self, network: StackedNetwork) -> List[nn.Parameter]:
        """The training points' parameters of one of the two networks (what a step differentiates)."""
        return [p for k in self.training_points for p in network.points[k].parameters()]

    def network_buffers(self) -> List[Tensor]:
        """Every buffer of every point's networks (batch-norm statistics, spectral norm's vectors): what a forward
        pass may change in place."""
        return [*self.generator.buffers(), *self.critic.buffers()]

    def after_critic_step(self) -> None:
        """Each training point's own constraints on its own critic (weight clipping with its own c)."""
        for k in self.training_points:
            for constraint in self.points[k].constraints:
                constraint.after_critic_step(self.points[k].networks.critic)

    def update_ema(self) -> None:
        for k in self.training_points if self.averages else ():
            self.averages[k].update_parameters(self.points[k].networks.generator)

    def penalty(self, real: Tensor, fake: Tensor, like: Tensor, transform: Any, noise: Any) -> Tensor:
        """The constraints' penalties on (real, detached fake) pairs, [K] like `like` (zeros when none)."""
        n = min(real.shape[1], fake.shape[1])  # simultaneous: the generator's batch may be larger
        real, fake = real.narrow(1, 0, n), fake.detach().narrow(1, 0, n)
        total = torch.zeros_like(like)
        for constraint in self.penalties:
            term = constraint.penalty(self.critic, real, fake, transform, batch_dims=2, noise=noise)
            if term is not None:
                total = total + term
        return total
