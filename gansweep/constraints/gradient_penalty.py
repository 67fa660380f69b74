"""Gradient penalties on critic interpolates: two-sided (WGAN-GP), one-sided (LP) and max (LGAN MaxGP)."""

from __future__ import annotations

import copy
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from gansweep.constraints.base import Constraint, ScoreTransform
from gansweep.noise import PointNoise

Critic = Callable[[Tensor], Tensor]


def interpolate(real: Tensor, fake: Tensor, batch_dims: int = 1, noise: Optional[PointNoise] = None) -> Tensor:
    """x^ = e x + (1 - e) x~ with one e ~ U[0, 1] per sample (from each point's stream when `noise` is given),
    broadcast over the data dims; x~ detached."""
    shape = real.shape[:batch_dims] + (1,) * (real.dim() - batch_dims)
    if noise is not None:
        eps = noise.rand(shape, real.dtype)
    else:
        eps = torch.rand(shape, device=real.device, dtype=real.dtype)
    return (eps * real + (1.0 - eps) * (fake.detach() if fake.requires_grad else fake)).requires_grad_(True)


def critic_grad_norm(
    critic: Critic, points: Tensor, transform: Optional[ScoreTransform] = None, batch_dims: int = 1
) -> Tensor:
    """||d f(x)/dx|| per sample (L2 over the data dims), [*points, N], the graph kept for the penalty's backward."""
    points = points if points.requires_grad else points.detach().requires_grad_(True)
    score = critic(points)
    if transform is not None:
        score = transform(score)
    (grad,) = torch.autograd.grad(score.sum(), points, create_graph=True)
    return grad.flatten(batch_dims).norm(2, dim=-1)


class _InterpolatePenalty(Constraint):
    fusible = ("weight",)  # lambda

    def __init__(self, weight: float, target: float = 1.0) -> None:
        if weight < 0:
            raise ValueError(f"a gradient-penalty weight must be >= 0, got {weight}")
        self.weight: float | Tensor = float(weight)  # a fused group's: [K], one per point
        self.target = float(target)

    @classmethod
    def fuse(cls, per_point: Sequence[Constraint]) -> Constraint:
        """One penalty whose weight is [K], point k's lambda in row k (one point's penalty is itself)."""
        if len(per_point) == 1:
            return per_point[0]
        fused = copy.copy(super().fuse(per_point))
        fused.weight = torch.tensor([float(p.weight) for p in per_point], dtype=torch.float64)  # type: ignore[attr-defined]
        return fused

    def penalty(
        self,
        critic: nn.Module,
        real: Tensor,
        fake: Tensor,
        transform: Optional[ScoreTransform] = None,
        batch_dims: int = 1,
        noise: Optional[PointNoise] = None,
    ) -> Tensor:
        x_hat = interpolate(real, fake, batch_dims, noise)
        term = self.reduce(critic_grad_norm(critic, x_hat, transform, batch_dims))
        weight = self.weight.to(term) if isinstance(self.weight, Tensor) else self.weight
        return weight * term

    def reduce(self, grad_norm: Tensor) -> Tensor:
        """[*points, N] gradient norms -> [*points]."""
        raise NotImplementedError


class GradientPenalty(_InterpolatePenalty):
    """WGAN-GP: weight * mean((||g|| - target)^2)."""

    def reduce(self, grad_norm: Tensor) -> Tensor:
        return ((grad_norm - self.target) ** 2).mean(dim=-1)


class OneSidedGradientPenalty(_InterpolatePenalty):
    """One-sided (Lipschitz penalty): weight * mean(max(0, ||g|| - target)^2)."""

    def reduce(self, grad_norm: Tensor) -> Tensor:
        return torch.relu(grad_norm - self.target).pow(2).mean(dim=-1)


class MaxGradientPenalty(_InterpolatePenalty):
    """LGAN MaxGP: weight * (max over the batch of ||g||)^2, no target."""

    def reduce(self, grad_norm: Tensor) -> Tensor:
        return grad_norm.amax(dim=-1) ** 2
