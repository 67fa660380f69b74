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
    """norm "l1": critic minimises E[s(x~)] - E[s(x)], generator -E[s(G(z))] (the WGAN objective on s, the paper's
    GAN loss); norm "l2": the authors' classification default, squared BOLT terms: critic E[s(x~)^2] +
    E[(1 - s(x))^2], generator -E[s(G(z))^2], the minimax of that loss (unlike l1's, its gradient fades where the
    critic rejects the fakes, s ~ 0; unconfirmed for the GAN, an option to compare).

    bound: how f is mapped into a bounded range; penalty_on: "logit" (penalise f) or "bounded" (penalise s).
    """

    def __init__(self, bound: str = "sigmoid", penalty_on: str = "logit", norm: str = "l1") -> None:
        self.bound_name = check_choice("loss.bound", bound, tuple(BOUNDS))
        self.penalty_on = check_choice("loss.penalty_on", penalty_on, ("logit", "bounded"))
        self.norm = check_choice("loss.norm", norm, ("l1", "l2"))
        self.bound = BOUNDS[bound]

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        s_fake, s_real = self.bound(fake.score), self.bound(real.score)
        if self.norm == "l2":
            return sample_mean(s_fake**2) + sample_mean((1.0 - s_real) ** 2)
        return sample_mean(s_fake) - sample_mean(s_real)  # = E[s~] + E[1 - s] - 1: the l1 terms, constant dropped

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        s_fake = self.bound(fake.score)
        return -sample_mean(s_fake**2 if self.norm == "l2" else s_fake)

    def penalty_transform(self, score: Tensor) -> Tensor:
        return self.bound(score) if self.penalty_on == "bounded" else score
