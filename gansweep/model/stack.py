"""K >= 1 points as one batched model: each network one module over the points' tensors (gansweep.model.stacked for
plain networks of K >= 2 points, gansweep.model.pointwise otherwise), penalties fused (per-point lambda), and each
point keeps its EMA.

Each point keeps its ordinary module, so whatever acts on a module acts per point (weight clipping with its own c,
its EMA, its checkpoint, an ordinary run's). A point out of training (diverged, failed) is routed out: its slot
computes with another training point's tensors, detached, so it neither trains nor feeds non-finite values or errors
to the batched calls, and the other slots compute exactly what they would beside it.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gansweep.constraints.base import Constraint
from gansweep.model.health import Health
from gansweep.model.points import GANPoint, same
from gansweep.model.pointwise import PointwiseNetwork
from gansweep.model.spectral import stackable
from gansweep.model.stacked import StackedNetwork

Network = Union[PointwiseNetwork, StackedNetwork]


def stacked_network(points: Sequence[nn.Module]) -> Network:
    """The points' networks as one: stacked tensors for K >= 2 points (spectral norm included), else each point's own
    module read at every call (a group of one; a parametrization other than spectral norm, computed per point)."""
    return StackedNetwork(points) if len(points) > 1 and stackable(points[0]) else PointwiseNetwork(points)


class GANStack(nn.Module):
    """The points' generators and critics as one network each, the constraints' penalties fused (slot j: the j-th
    constraint of every point, per-point lambda), and one EMA generator per point when train.ema is set. Which points
    train is `health`'s (gansweep.model.health): a point whose run ended is routed out."""

    def __init__(self, points: Sequence[GANPoint], health: Optional[Health] = None) -> None:
        super().__init__()
        if not points:
            raise ValueError("a model trains at least one point")
        self.points = list(points)  # a plain list: the networks are registered through generator and critic
        self.health = health if health is not None else Health(len(self.points), on_end=lambda k: self.reroute())
        self.z_dim: int = same("arch z_dim", [p.networks.z_dim for p in points])
        self.generator = stacked_network([p.networks.generator for p in points])
        self.critic = stacked_network([p.networks.critic for p in points])
        same("constraint types", [[type(c).__name__ for c in p.constraints] for p in points])
        self.penalties: List[Constraint] = self.fused_penalties()
        same("whether train.ema is set", [p.ema is None for p in points])
        self.averages: List[AveragedModel] = [  # each point's EMA generator; none without train.ema
            AveragedModel(p.networks.generator, multi_avg_fn=get_ema_multi_avg_fn(p.ema), use_buffers=True)
            for p in points
            if p.ema is not None
        ]
        self.ema = nn.ModuleList(self.averages)  # registered: moved with the model
        # batch norm mixes the statistics of real and fake when they share a pass: the critic scores them apart
        self.critic_has_batch_norm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for p in points for m in p.networks.critic.modules()
        )  # the points' own modules: a stacked network does not register them

    def fused_penalties(self) -> List[Constraint]:
        """Slot j: the j-th constraint of every point as one (per-point lambda)."""
        slots = zip(*(p.constraints for p in self.points), strict=True)
        return [type(slot[0]).fuse(slot) for slot in slots]

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

    def parameters_of(self, network: Network) -> List[Tensor]:
        """What a step differentiates in one of the two networks (the training points' parameters)."""
        return network.trainable(self.training_points)

    def fused_optimizer(self, optimizer: Any, network: Network) -> Any:
        """`optimizer` (one parameter group per point) as the network's update (gansweep.model.stacked_optim)."""
        return network.fused_optimizer(optimizer, lambda: self.training_points)

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

    def penalty(
        self, real: Tensor, fake: Tensor, like: Tensor, transform: Any, noise: Any, critic: Any = None, dim: int = 1
    ) -> Tensor:
        """The constraints' penalties on (real, detached fake) pairs, [K] like `like` (zeros when none); samples along
        `dim` (0: a run alone, scored by its own `critic`)."""
        n = min(real.shape[dim], fake.shape[dim])  # simultaneous: the generator's batch may be larger
        real, fake = _first(real, n, dim), _first(fake.detach() if fake.requires_grad else fake, n, dim)
        total: Optional[Tensor] = None  # a step's one penalty is returned as it is (no zeros added: ops per step)
        for constraint in self.penalties:
            scorer = self.critic if critic is None else critic
            term = constraint.penalty(scorer, real, fake, transform, batch_dims=dim + 1, noise=noise)
            if term is not None:
                total = term if total is None else total + term
        return torch.zeros_like(like) if total is None else total


def _first(batch: Tensor, n: int, dim: int) -> Tensor:
    """The first n samples along `dim` (the batch itself when it has n)."""
    return batch if batch.shape[dim] == n else batch.narrow(dim, 0, n)
