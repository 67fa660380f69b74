"""Lipschitz GANs (Zhou et al. 2019): critic minimises E[phi(f(x~))] + E[phi(-f(x))] under a Lipschitz constraint."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from torch import Tensor

from gansweep.losses.base import CriticOutput, GANLoss, check_choice, sample_mean, softplus

#: The phi family of the paper (plus hinge and least-squares variants).
PHI: Dict[str, Callable[[Tensor], Tensor]] = {
    "x": lambda t: t,  # = WGAN
    "softplus": softplus,  # -log sigmoid(-t): the standard GAN
    "sqrt": lambda t: torch.sqrt(t * t + 1.0) + t,
    "exp": torch.exp,
    "hinge": lambda t: torch.relu(1.0 + t),
    "lsgan": lambda t: (t + 1.0) ** 2,
}


class LGANLoss(GANLoss):
    """generator: "linear" is -E[f(G(z))] (the authors' default for every phi); "phi" is E[phi(-f(G(z)))]."""

    def __init__(self, phi: str = "softplus", generator: str = "linear") -> None:
        self.phi_name = check_choice("loss.phi", phi, tuple(PHI))
        self.generator = check_choice("loss.generator", generator, ("linear", "phi"))
        self.phi = PHI[phi]

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return sample_mean(self.phi(fake.score)) + sample_mean(self.phi(-real.score))

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        if self.generator == "phi":
            return sample_mean(self.phi(-fake.score))
        return -sample_mean(fake.score)
