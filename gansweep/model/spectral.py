"""torch's spectral norm parametrization (torch.nn.utils.parametrizations.spectral_norm) for K points' stacked weights
at once: each point's power iteration on its own vectors and its own sigma, the same arithmetic as the
parametrization applies to one weight, through batched matrix products."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


@dataclass(frozen=True)
class Normalised:
    """A spectrally normalised weight of the points' networks, by the names of its tensors in a point's module."""

    original: str  # the unnormalised weight (a parameter)
    u: str  # the power iteration's left and right vectors (buffers; absent for a 1-D weight)
    v: str
    dim: int
    eps: float
    n_power_iterations: int

    def __call__(self, weight: Tensor, u: Optional[Tensor], v: Optional[Tensor], training: bool) -> Tensor:
        """weight [K, ...] / each point's sigma; in training, one power-iteration step per call on u [K, h] and
        v [K, w] in place, as the parametrization does on reading its weight."""
        if weight.dim() == 2:  # a 1-D weight per point: normalised exactly
            return F.normalize(weight, dim=1, eps=self.eps)
        assert u is not None and v is not None
        matrix = self._matrices(weight)
        if training:
            with torch.no_grad():
                for _ in range(self.n_power_iterations):
                    u.copy_(F.normalize(torch.bmm(matrix, v.unsqueeze(-1)).squeeze(-1), dim=1, eps=self.eps))
                    v.copy_(F.normalize(torch.bmm(matrix.mH, u.unsqueeze(-1)).squeeze(-1), dim=1, eps=self.eps))
        u, v = u.clone(memory_format=torch.contiguous_format), v.clone(memory_format=torch.contiguous_format)
        sigma = (u.conj() * torch.bmm(matrix, v.unsqueeze(-1)).squeeze(-1)).sum(-1)
        return weight / sigma.reshape((-1,) + (1,) * (weight.dim() - 1))

    def _matrices(self, weight: Tensor) -> Tensor:
        """[K, h, w]: each point's weight with `dim` first, flattened after it."""
        dim = self.dim + 1  # after the points' dim
        if dim != 1:
            weight = weight.permute(0, dim, *(d for d in range(1, weight.dim()) if d != dim))
        return weight.flatten(2)


def normalised_weights(module: nn.Module) -> Dict[str, Normalised]:
    """Each spectrally normalised weight of `module` by its plain name (e.g. "0.weight"); raises ValueError for any
    other parametrization (those networks take gansweep.model.pointwise)."""
    found: Dict[str, Normalised] = {}
    for owner, sub in module.named_modules():
        if not parametrize.is_parametrized(sub):
            continue
        for attr, parametrizations in cast(nn.ModuleDict, sub.parametrizations).items():
            chain = list(cast(nn.ModuleList, parametrizations))
            norm = chain[0]
            path = f"{owner}.parametrizations.{attr}" if owner else f"parametrizations.{attr}"
            if len(chain) != 1 or not isinstance(norm, _SpectralNorm):
                raise ValueError(f"{path}: only torch's spectral_norm parametrization is stacked")
            found[f"{owner}.{attr}" if owner else attr] = Normalised(
                original=f"{path}.original",
                u=f"{path}.0._u",
                v=f"{path}.0._v",
                dim=int(norm.dim),
                eps=float(norm.eps),
                n_power_iterations=int(getattr(norm, "n_power_iterations", 1)),
            )
    return found


def stackable(module: nn.Module) -> bool:
    """Whether every parametrization of `module` is one spectral norm (what normalised_weights stacks)."""
    if not any(parametrize.is_parametrized(m) for m in module.modules()):
        return True
    try:
        normalised_weights(module)
    except ValueError:
        return False
    return True
