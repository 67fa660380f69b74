"""Gradient penalties on critic interpolates: two-sided (WGAN-GP), one-sided (LP) and max (LGAN MaxGP)."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

from gansweep.constraints.base import Constraint, ScoreTransform

Critic = Callable[[Tensor], Tensor]


def interpolate(real: Tensor, fake: Tensor, batch_dims: int = 1) -> Tensor:
    """x^ = e x + (1 - e) x~ with one e ~ U[0, 1] per sample, broadcast over the data dims; x~ detached."""
    shape = real.shape[:batch_dims] + (1,) * (real.dim() - batch_dims)
    eps = torch.rand(shape, device=real.device, dtype=real.dtype)
    return (eps * real + (1.0 - eps) * fake.detach()).requires_grad_(True)


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
    def __init__(self, weight: float, target: float = 1.0) -> None:
        if weight < 0:
            raise ValueError(f"a gradient-penalty weight must be >= 0, got {weight}")
        self.weight = float(weight)
        self.target = float(target)

    def penalty(
        self,
        critic: nn.Module,
        real: Tensor,
        fake: Tensor,
        transform: Optional[ScoreTransform] = None,
        batch_dims: int = 1,
    ) -> Tensor:
        x_hat = interpolate(real, fake, batch_dims)
        return self.weight * self.reduce(critic_grad_norm(critic, x_hat, transform, batch_dims))

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
