"""Non-saturating GAN (Goodfellow et al. 2014): BCE-with-logits critic, generator maximises log D(G(z))."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from gansweep.losses.base import CriticOutput, GANLoss, sample_mean, softplus


def nsgan_critic_loss(real_score: Tensor, fake_score: Tensor) -> Tensor:
    """BCE(f(x), 1) + BCE(f(x~), 0) with f a logit."""
    return sample_mean(softplus(-real_score)) + sample_mean(softplus(fake_score))


def nsgan_generator_loss(fake_score: Tensor) -> Tensor:
    """BCE(f(G(z)), 1) = -log sigmoid(f(G(z)))."""
    return sample_mean(softplus(-fake_score))


class NSGANLoss(GANLoss):
    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return nsgan_critic_loss(real.score, fake.score)

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        return nsgan_generator_loss(fake.score)
