"""Non-saturating GAN (Goodfellow et al. 2014): BCE-with-logits critic, generator maximises log D(G(z))."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from gansweep.losses.base import CriticOutput, GANLoss, check_choice, sample_mean, softplus

#: How the critic's two BCE terms combine: "sum" (Mimicry, StudioGAN) or "mean" (the Bures GAN authors and
#: gan_cifar.py's DCGAN mode: (BCE(f(x), 1) + BCE(f(x~), 0)) / 2).
CRITIC_TERMS = ("sum", "mean")


def nsgan_critic_loss(real_score: Tensor, fake_score: Tensor, terms: str = "sum") -> Tensor:
    """BCE(f(x), 1) + BCE(f(x~), 0) with f a logit; halved when terms == "mean"."""
    total = sample_mean(softplus(-real_score)) + sample_mean(softplus(fake_score))
    return 0.5 * total if terms == "mean" else total


def nsgan_generator_loss(fake_score: Tensor) -> Tensor:
    """BCE(f(G(z)), 1) = -log sigmoid(f(G(z)))."""
    return sample_mean(softplus(-fake_score))


class NSGANLoss(GANLoss):
    """critic_terms: "sum" or "mean" of the critic's real and fake BCE terms (CRITIC_TERMS)."""

    def __init__(self, critic_terms: str = "sum") -> None:
        self.critic_terms = check_choice("loss.critic_terms", critic_terms, CRITIC_TERMS)

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return nsgan_critic_loss(real.score, fake.score, self.critic_terms)

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        return nsgan_generator_loss(fake.score)
