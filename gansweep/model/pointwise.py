"""K points' networks as one module, each point's tensors read from its own module at every call: the route for
networks with parametrizations (spectral norm's power iteration runs on each point's weight as it is read) and for a
group of one (the module itself). Plain networks of K > 1 points take gansweep.model.stacked, one stacked tensor per
parameter.

Each point keeps its ordinary module (its own parameters, buffers and parametrizations), so whatever acts on a
module acts per point: weight clipping clamps each point's parameters, a stock optimizer holds one parameter group
per point, and point k's checkpoint is an ordinary run's.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gansweep.model.point_state import force_foreach


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


class PointwiseNetwork(nn.Module):
    """The points' networks (identical architectures) as one module: forward(x [K, N, ...], *args) -> [K, N, ...],
    each point's tensors read from its own module at every call (parametrizations computed per point) and stacked.
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

    def trainable(self, training: Sequence[int]) -> List[Tensor]:
        """What a step differentiates: the training points' parameters."""
        return [p for k in training for p in self.points[k].parameters()]

    def point_grads(self, k: int) -> Dict[str, Optional[Tensor]]:
        """Point k's gradients by parameter name."""
        return {name: p.grad for name, p in self.points[k].named_parameters()}

    def fused_optimizer(self, optimizer: Any, active: Callable[[], Sequence[int]]) -> Any:
        """The points' optimizer as it is (one parameter group per point), with the multi-tensor update for K > 1."""
        if len(self.points) > 1:
            force_foreach([optimizer])
        return optimizer
