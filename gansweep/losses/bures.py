"""Bures GAN and Alt-Bures GAN (De Meulemeester et al. 2021): NS-GAN plus diversity matching of critic features."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from gansweep.losses.base import CriticOutput, check_choice
from gansweep.losses.bures_distance import EPS, FORMS, SQRTMS, bures_distance_sq
from gansweep.losses.nsgan import NSGANLoss, nsgan_generator_loss


class _BuresTerm:
    """The B^2 term on the critic's last hidden features; real features are detached (gradient to G only)."""

    def __init__(self, form: str, sqrtm: str, newton_schulz_iters: int, eps: float) -> None:
        self.form = check_choice("loss.form", form, FORMS)
        self.sqrtm = check_choice("loss.sqrtm", sqrtm, SQRTMS)
        self.iters = newton_schulz_iters
        self.eps = eps

    def bures(self, fake: CriticOutput, real: Optional[CriticOutput]) -> Tensor:
        if fake.features is None or real is None or real.features is None:
            raise ValueError("the Bures loss needs the critic's hidden features of a fake and a real batch")
        return bures_distance_sq(fake.features, real.features.detach(), self.form, self.sqrtm, self.iters, self.eps)


class BuresLoss(NSGANLoss, _BuresTerm):
    """Critic: NS-GAN (its two terms averaged, as the authors). Generator: 0.5 * (BCE(f(x~), 1) + weight * B^2)."""

    needs_features = True

    def __init__(
        self,
        weight: float = 1.0,
        form: str = "auto",
        sqrtm: str = "newton_schulz",
        newton_schulz_iters: int = 15,
        eps: float = EPS,
        critic_terms: str = "mean",
    ) -> None:
        NSGANLoss.__init__(self, critic_terms)
        _BuresTerm.__init__(self, form, sqrtm, newton_schulz_iters, eps)
        self.weight = weight

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        bures = self.bures(fake, real).to(fake.score.dtype)
        return 0.5 * (nsgan_generator_loss(fake.score) + self.weight * bures)


class AltBuresLoss(NSGANLoss, _BuresTerm):
    """Each iteration: a generator step on B^2 alone, then a normal NS-GAN step on a second real batch."""

    extra_real_batches = 1

    def __init__(
        self,
        form: str = "auto",
        sqrtm: str = "newton_schulz",
        newton_schulz_iters: int = 15,
        eps: float = EPS,
        critic_terms: str = "mean",
    ) -> None:
        NSGANLoss.__init__(self, critic_terms)
        _BuresTerm.__init__(self, form, sqrtm, newton_schulz_iters, eps)

    def alternating_generator_loss(self, fake: CriticOutput, real: CriticOutput) -> Optional[Tensor]:
        return self.bures(fake, real).to(fake.score.dtype)
