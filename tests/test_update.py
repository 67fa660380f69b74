"""train.update: alternating (the critic steps, then the generator against the updated critic) and simultaneous (Bures
GAN's train_step: both gradients from one forward pass at the same weights), on networks small enough to update by
hand: G(z) = b, f(x) = w x + c, the WGAN loss and SGD; the steps are called as plain functions, with no Trainer."""

from __future__ import annotations

from functools import partial
from typing import Dict, Tuple

import pytest
import torch
from torch import Tensor, nn

from gansweep.losses.wgan import WGANLoss
from gansweep.model.module import GANModule
from gansweep.model.points import GANPoint
from gansweep.model.stack import GANStack
from gansweep.model.steps import Steps, begin_iteration, generator_iteration
from gansweep.models.base import GANNetworks
from gansweep.noise import PointNoise

LR, W0, B0 = 0.1, 0.5, 0.2
REAL = 1.0  # every real image is 255: 2 (255 / 255 - 0.5) = 1


class Constant(nn.Module):
    """G(z) = b whatever z ([*, N, 1, 1, 1])."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(B0))

    def forward(self, z: Tensor) -> Tensor:
        return (self.b + 0.0 * z.sum(-1)).reshape(*z.shape[:-1], 1, 1, 1)


class Line(nn.Module):
    """f(x) = w x + c on the image's single value; its feature is x itself."""

    def __init__(self) -> None:
        super().__init__()
        self.w, self.c = nn.Parameter(torch.tensor(W0)), nn.Parameter(torch.tensor(0.0))

    def forward(self, x: Tensor, return_features: bool = False):
        x = x.flatten(-3)
        score = self.w * x[..., 0] + self.c
        return (score, x) if return_features else score


def one_iteration(update: str, n_critic: int = 1) -> Tuple[GANNetworks, Dict[str, float]]:
    """One generator iteration of the steps on a batch of 4 reals per critic step; (the networks, what it logs)."""
    sgd = partial(torch.optim.SGD, lr=LR)
    networks = GANNetworks(Constant(), Line(), z_dim=1)
    steps = Steps(GANStack([GANPoint(networks, [], (sgd, sgd))]), WGANLoss(), PointNoise([0], fused=True))
    opt_g, opt_d = sgd(networks.generator.parameters()), sgd(networks.critic.parameters())
    batch = torch.full((n_critic, 1, 4, 1, 1, 1), REAL)  # [per_step, K, N, C, H, W]
    begin_iteration(steps, 0, batch, update, torch.device("cpu"))
    logs = generator_iteration(steps, opt_g, opt_d, list(batch.unbind(0)), update)
    return networks, {name: value.item() for name, value in logs.items()}


def test_simultaneous_takes_both_gradients_at_the_same_weights():
    """L_D = w (b - r): dw = b - r; L_G = -(w b + c): db = -w. Simultaneous: b1 = b0 + lr w0 (the critic's OLD w)."""
    networks, logged = one_iteration("simultaneous")
    w1 = W0 - LR * (B0 - REAL)  # 0.5 - 0.1 * (0.2 - 1) = 0.58
    assert networks.critic.w.item() == pytest.approx(w1) and networks.critic.c.item() == pytest.approx(0.0)
    assert networks.generator.b.item() == pytest.approx(B0 + LR * W0)  # 0.25
    assert logged["critic"] == pytest.approx(W0 * (B0 - REAL))  # -0.4, before either step
    assert logged["generator"] == pytest.approx(-W0 * B0)  # -0.1, at the same weights


def test_alternating_steps_the_generator_against_the_updated_critic():
    networks, logged = one_iteration("alternating")
    w1 = W0 - LR * (B0 - REAL)
    assert networks.critic.w.item() == pytest.approx(w1)
    assert networks.generator.b.item() == pytest.approx(B0 + LR * w1)  # 0.258
    assert logged["generator"] == pytest.approx(-w1 * B0)


def test_simultaneous_with_more_critic_steps_shares_the_last_one():
    """n_critic 2: one critic step alone, then the last critic step and the generator step from one pass."""
    networks, _ = one_iteration("simultaneous", n_critic=2)
    w1 = W0 - LR * (B0 - REAL)
    w2 = w1 - LR * (B0 - REAL)
    assert networks.critic.w.item() == pytest.approx(w2)
    assert networks.generator.b.item() == pytest.approx(B0 + LR * w1)


def test_simultaneous_refuses_float16_loss_scaling():
    """One pass, two steps: the critic's step may change the float16 loss scale before the generator's is unscaled."""
    from gansweep.run.build import module_options
    from tests.conftest import compose_config

    with pytest.raises(ValueError, match="use trainer.precision=bf16-mixed or 32-true, or train.update=alternating"):
        module_options(compose_config(["experiment=bures", "trainer.precision=16-mixed"]))
    assert (
        module_options(compose_config(["experiment=bures", "trainer.precision=bf16-mixed"]))["update"] == "simultaneous"
    )


def test_an_unknown_update_says_what_to_choose():
    sgd = partial(torch.optim.SGD, lr=LR)
    with pytest.raises(ValueError, match="train.update='both' is not an option; choose one of alternating, simult"):
        GANModule(GANPoint(GANNetworks(Constant(), Line(), z_dim=1), [], (sgd, sgd)), WGANLoss(), update="both")
