"""WGAN (Arjovsky et al. 2017; Gulrajani et al. 2017): critic E[f(x~)] - E[f(x)], generator -E[f(G(z))]."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from gansweep.losses.base import CriticOutput, GANLoss, sample_mean


class WGANLoss(GANLoss):
    """The Wasserstein critic loss; the Lipschitz constraint (clip, gp, ...) is chosen separately."""

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return sample_mean(fake.score) - sample_mean(real.score)

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        return -sample_mean(fake.score)
