"""Weight clipping (original WGAN, Arjovsky et al. 2017): every critic parameter into [-c, c] after each step."""

from __future__ import annotations

import torch
from torch import nn

from gansweep.constraints.base import Constraint


class WeightClip(Constraint):
    fusible = ("clip",)  # each point of a group clips its own critic with its own c

    def __init__(self, clip: float = 0.01) -> None:
        if clip <= 0:
            raise ValueError(f"constraint.clip.clip must be > 0, got {clip}")
        self.clip = float(clip)

    @torch.no_grad()
    def after_critic_step(self, critic: nn.Module) -> None:
        for p in critic.parameters():
            p.clamp_(-self.clip, self.clip)
