"""The loss-plugin contract: critic outputs in, critic and generator losses out (pure tensor math)."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor


class CriticOutput(NamedTuple):
    """The critic's raw scores f (logits, [*points, N]) and, when asked for, its last hidden features
    ([*points, N, F])."""

    score: Tensor
    features: Optional[Tensor] = None


class GANLoss:
    """A GAN objective. Subclasses implement the two losses; flags tell the trainer what they need.

    Contract: scores are [*points, N] (leading dims index the points of a fused group, none in an ordinary
    run); every loss reduces over the sample dim N only and returns [*points], a scalar for one run.
    """

    #: the generator loss needs the critic's hidden features (fake and real), e.g. Bures
    needs_features: bool = False
    #: real batches drawn per iteration beyond the n_critic critic batches (Alt-Bures: 1)
    extra_real_batches: int = 0

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        raise NotImplementedError

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        raise NotImplementedError

    def alternating_generator_loss(self, fake: CriticOutput, real: CriticOutput) -> Optional[Tensor]:
        """An extra generator objective stepped alone before each GAN step (Alt-Bures); None for most."""
        return None

    def penalty_transform(self, score: Tensor) -> Tensor:
        """What a gradient penalty differentiates: the raw critic output f unless the loss says otherwise."""
        return score


def sample_mean(values: Tensor) -> Tensor:
    """The mean over the sample dim (the last one): one value per point of a fused group."""
    return values.mean(dim=-1)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """A clear config error for a value outside a loss option's choices."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not an option; choose one of {', '.join(choices)}")
    return value


def softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), stable; BCE-with-logits terms are softplus(-f) (label 1) and softplus(f) (label 0)."""
    return torch.nn.functional.softplus(x)
