"""K >= 2 points' networks as one stacked tensor per parameter and buffer, run as one torch.func.vmap: the points'
tensors are not gathered at every call, and one optimizer update covers the K points (gansweep.model.stacked_optim).
A weight under torch's spectral norm parametrization is normalised for the K points at once (gansweep.model.
spectral), each with its own power-iteration vectors.

Each point keeps its ordinary module, whose parameters and buffers are views of its slice of the stacked tensors:
what acts on a point's module acts on its slice (weight clipping, EMA, sampling, loading its checkpoint), and its
state_dict is an ordinary run's. Gradients land on the stacked tensors ([K, ...]; slot k is point k's).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from gansweep.model.batched import batched_twin
from gansweep.model.pointwise import owners, plain_twin
from gansweep.model.spectral import normalised_weights
from gansweep.model.stacked_optim import Active, stacked_optimizer


class StackedNetwork(nn.Module):
    """forward(x [K, N, ...], *args) -> [K, N, ...]. `route[k]` is the point whose tensors slot k computes with: k
    itself while it trains, another (detached, its slot's own tensors untouched) after its run ended."""

    def __init__(self, points: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(points) < 2:
            raise ValueError("a stacked network holds at least two points (one point runs its module itself)")
        self.points: Tuple[nn.Module, ...] = tuple(points)  # not registered: their tensors are views of ours
        self.route = list(range(len(points)))
        twin = plain_twin(points[0])
        first = points[0]
        self._names = [name for name, _ in first.named_parameters()], [name for name, _ in first.named_buffers()]
        self._normalised = normalised_weights(first)  # twin's name -> spectral norm of a parametrized weight
        self._parametrizations = {n for norm in self._normalised.values() for n in (norm.original, norm.u, norm.v)}
        self._owners = [(owners(point, self._names[0]), owners(point, self._names[1])) for point in points]
        self._twin: Tuple[nn.Module] = (twin,)  # a tuple: not registered, never moved or saved
        self._batched = batched_twin(twin) if not self._normalised else None  # one matmul per layer, no vmap
        self._slots = owners(self._batched[0], self._names[0]) if self._batched is not None else []
        self.stacked_parameters = nn.ParameterList(
            [nn.Parameter(self._gather(0, i)) for i in range(len(self._names[0]))]
        )
        for i in range(len(self._names[1])):
            self.register_buffer(f"stacked_buffer_{i}", self._gather(1, i))
        self.share()

    # -- the points' views ------------------------------------------------------------------------------------------
    @property
    def stacked_buffers(self) -> List[Tensor]:
        return [getattr(self, f"stacked_buffer_{i}") for i in range(len(self._names[1]))]

    def _gather(self, kind: int, index: int) -> Tensor:
        with torch.no_grad():
            return torch.stack([getattr(*self._owners[k][kind][index]).detach() for k in range(len(self.points))])

    def share(self) -> None:
        """Every point's parameters and buffers become views of its slice (the same tensor objects: whoever holds one,
        an optimizer or a test, sees the stacked values)."""
        for kind, stacked in ((0, list(self.stacked_parameters)), (1, self.stacked_buffers)):
            for index, tensor in enumerate(stacked):
                for k in range(len(self.points)):
                    owner, attr = self._owners[k][kind][index]
                    if kind == 0:
                        getattr(owner, attr).data = tensor.data[k]
                    else:
                        owner._buffers[attr] = tensor.data[k]

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> "StackedNetwork":
        """Moves and casts (Lightning's `.to(device)`, `.double()`) act on the stacked tensors; the views follow."""
        super()._apply(fn, recurse)
        self.share()
        return self

    def point_views(self) -> List[List[Tensor]]:
        """views[k][i]: point k's view of stacked parameter i (the parameters an optimizer's group k holds)."""
        return [[getattr(owner, attr) for owner, attr in self._owners[k][0]] for k in range(len(self.points))]

    # -- computing -------------------------------------------------------------------------------------------------
    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Any:
        twin = self._twin[0]
        twin.train(self.training)
        own = all(member == slot for slot, member in enumerate(self.route))
        stacked = list(self.stacked_parameters), self.stacked_buffers
        if own:  # every point trains: the stacked tensors themselves, buffers updated in place
            params = dict(zip(self._names[0], stacked[0], strict=True))
            buffers = dict(zip(self._names[1], stacked[1], strict=True))
        else:
            params = {n: self._routed(t) for n, t in zip(self._names[0], stacked[0], strict=True)}
            buffers = {n: self._routed(t, detach=True) for n, t in zip(self._names[1], stacked[1], strict=True)}
        twin_params, twin_buffers = self._twin_tensors(params, buffers)
        if self._batched is not None:
            return self._call_batched(list(twin_params.values()), x, *args, **kwargs)

        def call(p: Dict[str, Tensor], b: Dict[str, Tensor], xi: Tensor) -> Any:
            return torch.func.functional_call(twin, (p, b), (xi, *args), kwargs, strict=True)

        out = torch.func.vmap(call, randomness="different")(twin_params, twin_buffers, x)
        if not own:
            self._write_back(buffers)
        return out

    def _call_batched(self, tensors: List[Tensor], x: Tensor, *args: Any, **kwargs: Any) -> Any:
        """The batched twin's forward with the stacked (or routed) tensors in its layers, put in and taken out again
        directly (functional_call's general swapping cost ~5% of a fused toy step at K = 4)."""
        batched = self._batched[0]  # type: ignore[index]
        slots = self._slots
        for (owner, attr), tensor in zip(slots, tensors, strict=True):
            owner._parameters[attr] = tensor  # type: ignore[assignment]  # a routed slot: not a leaf
        try:
            return batched(x, *args, **kwargs)
        finally:
            for owner, attr in slots:
                owner._parameters[attr] = None

    def _twin_tensors(self, params: Dict[str, Tensor], buffers: Dict[str, Tensor]) -> Tuple[Dict, Dict]:
        """The plain twin's parameters and buffers from the points' (stacked or routed): a spectrally normalised
        weight computed from its original and power-iteration vectors, which are not the twin's buffers."""
        if not self._normalised:
            return params, buffers
        twin_params = {name: t for name, t in params.items() if name not in self._parametrizations}
        twin_buffers = {name: t for name, t in buffers.items() if name not in self._parametrizations}
        for name, norm in self._normalised.items():
            twin_params[name] = norm(params[norm.original], buffers.get(norm.u), buffers.get(norm.v), self.training)
        return twin_params, twin_buffers

    def _routed(self, stacked: Tensor, detach: bool = False) -> Tensor:
        slots = [stacked[m] if m == k and not detach else stacked[m].detach() for k, m in enumerate(self.route)]
        return torch.stack(slots)

    def _write_back(self, buffers: Dict[str, Tensor]) -> None:
        """Buffers the call updated in place (batch norm's statistics) back into each training slot's own."""
        if not self.training:
            return
        with torch.no_grad():
            for stacked, routed in zip(self.stacked_buffers, buffers.values(), strict=True):
                for slot, member in enumerate(self.route):
                    if member == slot:
                        stacked[slot].copy_(routed[slot])

    def trainable(self, training: Sequence[int]) -> List[Tensor]:
        """What a step differentiates: the stacked parameters (slots out of training get no gradient)."""
        return list(self.stacked_parameters)

    def fused_optimizer(self, optimizer: Any, active: Active) -> Any:
        """The points' optimizer (one parameter group per point over its views) updating the stacked tensors."""
        return stacked_optimizer(optimizer, list(self.stacked_parameters), self.point_views(), active)

    def point_grads(self, k: int) -> Dict[str, Optional[Tensor]]:
        """Point k's gradients by parameter name (its slice of the stacked gradients)."""
        return {
            name: None if p.grad is None else p.grad[k]
            for name, p in zip(self._names[0], self.stacked_parameters, strict=True)
        }
