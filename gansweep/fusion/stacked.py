"""K networks of one architecture run as one batched network: torch.func.vmap over functional_call, fed each call
with every point's own tensors stacked on a leading dim.

Each point keeps its ordinary module (its own parameters, buffers and parametrizations), so whatever acts on a
module acts per point: spectral norm's power iteration runs on each point's weight when that weight is read,
weight clipping clamps each point's parameters, a stock optimizer holds one parameter group per point (per-point
learning rates and betas), and point i's checkpoint is an ordinary run's. The stacking is differentiable, so
gradients reach each point's leaves; batch-norm running statistics updated inside the call are written back to
each point's buffers. K = 1 runs the module itself, with no vmap.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize


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
    """The points' networks (identical architectures) as one module: forward(x [K, N, ...], *args) -> [K, N, ...]."""

    def __init__(self, points: Sequence[nn.Module]) -> None:
        super().__init__()
        if not points:
            raise ValueError("a stacked network needs at least one point")
        self.points = nn.ModuleList(points)
        twin = plain_twin(points[0])
        self._param_names = [name for name, _ in twin.named_parameters()]
        self._buffer_names = [name for name, _ in twin.named_buffers()]
        self._owners = {  # per point, where each named tensor is read (a parametrized weight: computed on reading)
            names: [owners(point, names) for point in points]
            for names in (tuple(self._param_names), tuple(self._buffer_names))
        }
        self._twin: Tuple[nn.Module] = (twin,)  # a tuple: not registered, never moved or saved with the points

    @property
    def twin(self) -> nn.Module:
        return self._twin[0]

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Any:
        if len(self.points) == 1:  # an ordinary run: the module itself, with the leading point dim kept
            out = self.points[0](x[0], *args, **kwargs)
            return tuple(o.unsqueeze(0) for o in out) if isinstance(out, tuple) else out.unsqueeze(0)
        params = self._stack(self._param_names)
        buffers = self._stack(self._buffer_names, detach=True)
        twin = self.twin
        twin.train(self.points[0].training)

        def call(p: Dict[str, Tensor], b: Dict[str, Tensor], xi: Tensor) -> Any:
            return torch.func.functional_call(twin, (p, b), (xi, *args), kwargs, strict=True)

        out = torch.func.vmap(call, randomness="different")(params, buffers, x)
        self._write_back(buffers)
        return out

    def _stack(self, names: Sequence[str], detach: bool = False) -> Dict[str, Tensor]:
        per_point = [[getattr(owner, attr) for owner, attr in pairs] for pairs in self._owners[tuple(names)]]
        stacked = {}
        for index, name in enumerate(names):
            tensors = [tensors[index] for tensors in per_point]
            stacked[name] = torch.stack([t.detach() for t in tensors] if detach else tensors)
        return stacked

    def _write_back(self, buffers: Dict[str, Tensor]) -> None:
        """Buffers the call updated in place (batch norm's running statistics) back into each point's own."""
        if not self.points[0].training:
            return
        with torch.no_grad():
            for name, stacked in buffers.items():
                for point, value in zip(self.points, stacked.unbind(0), strict=True):
                    point.get_buffer(name).copy_(value)


def point_modules(module: nn.Module) -> List[nn.Module]:
    """The points' own modules of a stacked network; an ordinary network is its one point."""
    return list(module.points) if isinstance(module, StackedNetwork) else [module]
