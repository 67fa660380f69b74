"""One battery for every loss and constraint plug-in, found in conf/loss/ and conf/constraint/ (optax's
contrib/_common_test.py is the model): a new plug-in is covered here without editing this file.

The contract: scores are [*points, N], inputs [*points, N, *data_shape], and every loss and penalty reduces
over the sample dim N only, so K points stacked give exactly the K separate results.
"""

from __future__ import annotations

from functools import lru_cache
from typing import List, Optional, Tuple

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from gansweep.constraints.base import Constraint
from gansweep.losses.base import CriticOutput, GANLoss
from gansweep.models.mlp import build_mlp
from gansweep.paths import conf_dir
from gansweep.run.build import build_constraints
from tests.conftest import compose_config

K, N, Z = 3, 8, 4
# Batched and single LAPACK calls round differently, and a matrix square root turns 1e-16 on a near-zero
# eigenvalue into 1e-8 (Bures on rank-deficient features); a point mixed with another differs by O(1).
CLOSE = dict(rtol=1e-6, atol=1e-8)


def group_options(group: str) -> List[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


# Every option of every loss YAML; options a loss offers beyond its defaults are added here.
LOSSES = [[f"loss={name}"] for name in group_options("loss")] + [
    *[
        ["loss=lgan", f"loss.phi={phi}", f"loss.generator={g}"]
        for phi in ("x", "sqrt", "exp", "hinge", "lsgan")
        for g in ("linear", "phi")
    ],
    ["loss=bolt", "loss.bound=tanh", "loss.penalty_on=bounded"],
    ["loss=bolt", "loss.bound=clip"],
    ["loss=bolt", "loss.norm=l2"],
    ["loss=lgan", "loss.phi=hinge", "loss.alpha=2.0"],
    ["loss=nsgan", "loss.critic_terms=mean"],
    ["loss=bures", "loss.critic_terms=sum", "loss.eps=1e-3"],
    ["loss=bures", "loss.form=kernel", "loss.sqrtm=eigh"],
    ["loss=bures", "loss.form=feature", "loss.sqrtm=eigh"],
    ["loss=alt_bures", "loss.form=feature"],
]
CONSTRAINTS = [[f"constraint={name}"] for name in group_options("constraint")] + [
    ["constraint=[sn,gp]"],
    ["constraint=gp", "constraint.gp.target=0.5"],
]


@lru_cache(maxsize=None)
def composed(overrides: Tuple[str, ...]) -> DictConfig:
    """Composed once per option; every test instantiates fresh plug-ins from it."""
    return compose_config(list(overrides))


def make_loss(overrides: List[str]) -> GANLoss:
    loss = instantiate(composed(tuple(overrides)).loss)
    assert isinstance(loss, GANLoss)
    return loss


def make_constraints(overrides: List[str]) -> List[Constraint]:
    constraints = build_constraints(composed(tuple(overrides)))
    assert all(isinstance(c, Constraint) for c in constraints)
    return constraints


def ids(params: List[List[str]]) -> List[str]:
    return [" ".join(p) for p in params]


def outputs(*lead: int, features: int = 5, seed: int = 0, requires_grad: bool = False) -> CriticOutput:
    """Random critic outputs: scores [*lead, N] and features [*lead, N, features], in float64."""
    g = torch.Generator().manual_seed(seed)
    score = torch.randn(*lead, N, generator=g, dtype=torch.float64) * 2
    feats = torch.randn(*lead, N, features, generator=g, dtype=torch.float64)
    return CriticOutput(score.requires_grad_(requires_grad), feats.requires_grad_(requires_grad))


def pick(out: CriticOutput, k: int) -> CriticOutput:
    return CriticOutput(out.score[k], None if out.features is None else out.features[k])


def generator_losses(loss: GANLoss, fake: CriticOutput, real: CriticOutput) -> List[Optional[torch.Tensor]]:
    """The GAN generator loss and, where the objective has one, its alternating generator loss."""
    return [loss.generator_loss(fake, real), loss.alternating_generator_loss(fake, real)]


def networks(data_shape=(2,)):
    torch.manual_seed(0)
    nets = build_mlp(data_shape, z_dim=Z, hidden=16, depth=2)
    return nets.generator.double(), nets.critic.double()


def grads(module: torch.nn.Module) -> List[Optional[torch.Tensor]]:
    return [p.grad for p in module.parameters()]


def assert_reaches(module: torch.nn.Module, what: str) -> None:
    got = grads(module)
    assert all(g is not None and torch.isfinite(g).all() for g in got), f"{what}: missing or non-finite gradients"
    assert any(g.abs().sum() > 0 for g in got if g is not None), f"{what}: all gradients are zero"


# -- losses -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", LOSSES, ids=ids(LOSSES))
def test_loss_gives_finite_scalars_for_one_run(overrides):
    loss = make_loss(overrides)
    real, fake = outputs(seed=1), outputs(seed=2)
    values = [loss.critic_loss(real, fake), *generator_losses(loss, fake, real)]
    for value in values:
        assert value is None or (value.shape == () and torch.isfinite(value)), value


@pytest.mark.parametrize("features", [5, 12], ids=["features<batch", "features>batch"])
@pytest.mark.parametrize("overrides", LOSSES, ids=ids(LOSSES))
def test_loss_of_stacked_points_is_the_stack_of_separate_losses(overrides, features):
    loss = make_loss(overrides)
    real, fake = outputs(K, features=features, seed=3), outputs(K, features=features, seed=4)
    fused = loss.critic_loss(real, fake)
    assert fused.shape == (K,)
    separate = torch.stack([loss.critic_loss(pick(real, k), pick(fake, k)) for k in range(K)])
    torch.testing.assert_close(fused, separate, **CLOSE)
    for i, fused in enumerate(generator_losses(loss, fake, real)):
        if fused is None:
            continue
        assert fused.shape == (K,)
        separate = torch.stack([generator_losses(loss, pick(fake, k), pick(real, k))[i] for k in range(K)])
        torch.testing.assert_close(fused, separate, **CLOSE)


@pytest.mark.parametrize("overrides", LOSSES, ids=ids(LOSSES))
def test_critic_loss_trains_the_critic(overrides):
    loss = make_loss(overrides)
    generator, critic = networks()
    real = torch.randn(N, 2, dtype=torch.float64)
    with torch.no_grad():
        fake = generator(torch.randn(N, Z, dtype=torch.float64))
    out = critic(torch.cat([real, fake]))
    loss.critic_loss(CriticOutput(out[:N]), CriticOutput(out[N:])).backward()
    assert_reaches(critic, "critic loss -> critic")


@pytest.mark.parametrize("overrides", LOSSES, ids=ids(LOSSES))
def test_generator_losses_train_the_generator_and_treat_the_real_batch_as_constant(overrides):
    """Gradients reach the generator through the critic; nothing flows into the real batch's outputs (e.g. the
    Bures term compares fake features to real ones held fixed)."""
    loss = make_loss(overrides)
    generator, critic = networks()
    critic.requires_grad_(False)  # as in the module's generator step
    fake = CriticOutput(*critic(generator(torch.randn(N, Z, dtype=torch.float64)), return_features=True))
    score, feats = critic(torch.randn(N, 2, dtype=torch.float64), return_features=True)
    real = CriticOutput(score.requires_grad_(True), feats.requires_grad_(True))
    for value in generator_losses(loss, fake, real):
        if value is None:
            continue
        generator.zero_grad(set_to_none=True)
        value.backward(retain_graph=True)
        assert_reaches(generator, "generator loss -> generator")
        assert real.score.grad is None and real.features.grad is None, "a generator loss backpropagates into real"


# -- constraints -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", CONSTRAINTS, ids=ids(CONSTRAINTS))
def test_constraint_keeps_the_critic_finite_and_trainable(overrides):
    generator, critic = networks()
    constraints = make_constraints(overrides)
    for c in constraints:
        c.prepare(critic)
    real = torch.randn(N, 2, dtype=torch.float64)
    fake = generator(torch.randn(N, Z, dtype=torch.float64))  # with its graph: a penalty must not use it
    score = critic(torch.cat([real, fake.detach()]))
    total = score.mean()
    for c in constraints:
        term = c.penalty(critic, real, fake)
        if term is not None:
            assert term.shape == () and torch.isfinite(term), term
            total = total + term
    total.backward()
    assert_reaches(critic, "critic score + penalties -> critic")
    assert all(g is None for g in grads(generator)), "a penalty backpropagates into the generator"
    with torch.no_grad():
        for p in critic.parameters():
            p.add_(p.grad)
    for c in constraints:
        c.after_critic_step(critic)
    assert torch.isfinite(critic(real)).all()


@pytest.mark.parametrize("data_shape", [(2,), (3, 4, 4)], ids=["2-D", "image"])
@pytest.mark.parametrize("transform", [None, torch.sigmoid], ids=["f", "sigmoid(f)"])
@pytest.mark.parametrize("overrides", CONSTRAINTS, ids=ids(CONSTRAINTS))
def test_penalty_of_stacked_points_is_the_stack_of_separate_penalties(overrides, transform, data_shape):
    """Inputs [K, N, *data] through a critic that maps each sample alone; the same random draws either way."""
    _, critic = networks(data_shape)
    constraints = make_constraints(overrides)
    for c in constraints:
        c.prepare(critic)
    critic.eval()  # spectral norm: no power-iteration update between the two evaluations
    g = torch.Generator().manual_seed(5)
    real = torch.randn(K, N, *data_shape, generator=g, dtype=torch.float64)
    fake = torch.randn(K, N, *data_shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(critic(real), torch.stack([critic(real[k]) for k in range(K)]))
    for c in constraints:
        torch.manual_seed(6)
        fused = c.penalty(critic, real, fake, transform, batch_dims=2)
        if fused is None:
            continue
        assert fused.shape == (K,)
        torch.manual_seed(6)  # interpolation weights: K x N draws in one call equal K calls of N
        separate = torch.stack([c.penalty(critic, real[k], fake[k], transform) for k in range(K)])
        torch.testing.assert_close(fused, separate, rtol=1e-10, atol=1e-12)
