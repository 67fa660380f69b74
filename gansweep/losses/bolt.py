"""BOLT-GAN (Tavasoli Naeini et al. 2025): the WGAN objective on a bounded critic output s = bound(f)."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from torch import Tensor

from gansweep.losses.base import CriticOutput, GANLoss, check_choice, sample_mean

#: Bounding functions onto [0, 1]. The paper's choice is not confirmed; sigmoid is the working default.
BOUNDS: Dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": lambda f: 0.5 * (torch.tanh(f) + 1.0),  # rescaled tanh
    "clip": lambda f: 0.5 * (torch.clamp(f, -1.0, 1.0) + 1.0),  # hard clip of f to [-1, 1], rescaled
}


class BOLTLoss(GANLoss):
    """Critic minimises E[s(x~)] - E[s(x)]; generator minimises -E[s(G(z))].

    bound: how f is mapped into a bounded range; penalty_on: "logit" (penalise f) or "bounded" (penalise s).
    """

    def __init__(self, bound: str = "sigmoid", penalty_on: str = "logit") -> None:
        self.bound_name = check_choice("loss.bound", bound, tuple(BOUNDS))
        self.penalty_on = check_choice("loss.penalty_on", penalty_on, ("logit", "bounded"))
        self.bound = BOUNDS[bound]

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return sample_mean(self.bound(fake.score)) - sample_mean(self.bound(real.score))

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        return -sample_mean(self.bound(fake.score))

    def penalty_transform(self, score: Tensor) -> Tensor:
        return self.bound(score) if self.penalty_on == "bounded" else score
