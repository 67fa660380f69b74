"""Lipschitz GANs (Zhou et al. 2019): critic minimises E[phi(f(x~))] + E[phi(-f(x))] under a Lipschitz constraint."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from torch import Tensor

from gansweep.losses.base import CriticOutput, GANLoss, check_choice, sample_mean, softplus

#: The phi family of the paper (plus hinge and least-squares variants), as phi(t, alpha): alpha is the hinge and
#: lsgan margin (LGANs-for-reproduce: alpha = 1); the other members ignore it.
PHI: Dict[str, Callable[[Tensor, float], Tensor]] = {
    "x": lambda t, alpha: t,  # = WGAN
    "softplus": lambda t, alpha: softplus(t),  # -log sigmoid(-t): the standard GAN
    "sqrt": lambda t, alpha: torch.sqrt(t * t + 1.0) + t,
    "exp": lambda t, alpha: torch.exp(t),
    "hinge": lambda t, alpha: torch.relu(alpha + t),  # -min(0, -t - alpha)
    "lsgan": lambda t, alpha: (t + alpha) ** 2,
}

#: The generator loss the authors' code uses for each phi when their max-phi flag is off (bPsiMax=False): -E[f]
#: for every phi except lsgan, whose generator loss is (f - alpha)^2 = phi(-f) whatever the flag says.
AUTHORS_GENERATOR = {name: "phi" if name == "lsgan" else "linear" for name in PHI}


class LGANLoss(GANLoss):
    """generator: "auto" (the authors' per phi, AUTHORS_GENERATOR), "linear" -E[f(G(z))], or "phi"
    E[phi(-f(G(z)))] (their bPsiMax=True); alpha: the hinge/lsgan margin."""

    def __init__(self, phi: str = "softplus", generator: str = "auto", alpha: float = 1.0) -> None:
        self.phi_name = check_choice("loss.phi", phi, tuple(PHI))
        generator = check_choice("loss.generator", generator, ("auto", "linear", "phi"))
        self.generator = AUTHORS_GENERATOR[phi] if generator == "auto" else generator
        self.alpha = alpha

    def phi(self, t: Tensor) -> Tensor:
        return PHI[self.phi_name](t, self.alpha)

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return sample_mean(self.phi(fake.score)) + sample_mean(self.phi(-real.score))

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        if self.generator == "phi":
            return sample_mean(self.phi(-fake.score))
        return -sample_mean(fake.score)
