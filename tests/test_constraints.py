"""Gradient penalties against analytic values; spectral norm and clipping against their definitions."""

import math

import pytest
import torch
from torch import nn

from gansweep.constraints.gradient_penalty import (
    GradientPenalty,
    MaxGradientPenalty,
    OneSidedGradientPenalty,
    critic_grad_norm,
    interpolate,
)
from gansweep.constraints.spectral_norm import SpectralNorm
from gansweep.constraints.weight_clip import WeightClip
from gansweep.models.mlp import build_mlp


class LinearCritic(nn.Module):
    """f(x) = w . flatten(x) + b: ||grad f|| = ||w|| everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


def batch(n=8, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(
    "penalty, w, expected",
    [
        (GradientPenalty(weight=10.0), [3.0, 4.0], 10.0 * (5.0 - 1.0) ** 2),
        (GradientPenalty(weight=10.0), [0.3, 0.4], 10.0 * (0.5 - 1.0) ** 2),  # two-sided: below 1 costs too
        (OneSidedGradientPenalty(weight=10.0), [3.0, 4.0], 10.0 * (5.0 - 1.0) ** 2),
        (OneSidedGradientPenalty(weight=10.0), [0.3, 0.4], 0.0),  # one-sided: below 1 is free
        (MaxGradientPenalty(weight=0.1), [3.0, 4.0], 0.1 * 25.0),  # max ||g||^2, no target
        (GradientPenalty(weight=2.0, target=5.0), [3.0, 4.0], 0.0),
    ],
)
def test_penalties_on_a_linear_critic(penalty, w, expected):
    real, fake = batch()
    value = penalty.penalty(LinearCritic(w), real, fake)
    assert value.item() == pytest.approx(expected, abs=1e-12)


def test_gp_gradient_reaches_the_critic_weights():
    critic = LinearCritic([3.0, 4.0])
    real, fake = batch()
    GradientPenalty(weight=10.0).penalty(critic, real, fake).backward()
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w|| = 20 * 4 * w / 5
    assert torch.allclose(critic.w.grad, torch.tensor([48.0, 64.0], dtype=torch.float64))


def test_grad_norm_is_over_all_non_batch_dims():
    w = torch.arange(1.0, 49.0, dtype=torch.float64) / 10
    critic = LinearCritic(w.tolist())
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    norms = critic_grad_norm(critic, x)
    assert torch.allclose(norms, torch.full((5,), w.norm().item(), dtype=torch.float64))


def test_max_gp_takes_the_batch_maximum():
    critic = lambda x: 0.5 * (x**2).sum(dim=1)  # noqa: E731  grad f = x, ||grad|| = ||x||
    real = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    value = MaxGradientPenalty(weight=1.0).penalty(critic, real, real.clone())  # interpolates are the points
    assert value.item() == pytest.approx(25.0)
    two_sided = GradientPenalty(weight=1.0).penalty(critic, real, real.clone())
    assert two_sided.item() == pytest.approx(((5 - 1) ** 2 + 0 + (2 - 1) ** 2) / 3)


def test_interpolates_use_one_epsilon_per_sample():
    real = torch.zeros(16, 3, 2, 2)
    fake = torch.ones(16, 3, 2, 2)
    x_hat = interpolate(real, fake)
    per_sample = x_hat.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))  # same e over C, H, W
    assert ((per_sample >= 0) & (per_sample <= 1)).all()
    assert per_sample[:, 0].unique().numel() > 1  # different e across samples
    detached = interpolate(real, fake.requires_grad_(True))
    assert detached.is_leaf and detached.requires_grad  # no path back into the generator


def test_penalty_through_a_score_transform():
    critic = LinearCritic([3.0, 4.0])
    real = torch.zeros(4, 2, dtype=torch.float64)
    fake = torch.zeros(4, 2, dtype=torch.float64)  # x^ = 0, f = b = 0.3, ||grad sigmoid(f)|| = s(1-s) * 5
    s = 1 / (1 + math.exp(-0.3))
    value = GradientPenalty(weight=1.0).penalty(critic, real, fake, torch.sigmoid)
    assert value.item() == pytest.approx((s * (1 - s) * 5 - 1) ** 2)


def test_negative_weight_is_refused():
    with pytest.raises(ValueError, match="weight"):
        GradientPenalty(weight=-1.0)


def test_spectral_norm_brings_every_layer_to_one():
    torch.manual_seed(0)
    critic = build_mlp((2,), hidden=64, depth=3).critic
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(5.0)
    layers = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    before = [torch.linalg.matrix_norm(m.weight, ord=2).item() for m in layers]
    assert max(before) > 2.0
    SpectralNorm().prepare(critic)
    critic.train()
    for _ in range(30):  # one power iteration per forward pass
        critic(torch.randn(8, 2))
    for m in layers:
        assert torch.linalg.matrix_norm(m.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_weight_clip_bounds_every_weight():
    torch.manual_seed(0)
    critic = build_mlp((2,), hidden=16, depth=2).critic
    assert max(p.abs().max().item() for p in critic.parameters()) > 0.01
    WeightClip(clip=0.01).after_critic_step(critic)
    assert max(p.abs().max().item() for p in critic.parameters()) <= 0.01
    assert any((p.abs() == 0.01).any() for p in critic.parameters())
