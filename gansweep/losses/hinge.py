"""Hinge GAN (Lim & Ye 2017; Miyato et al. 2018): critic max(0,1-f(x)) + max(0,1+f(x~)), generator -E[f]."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from gansweep.losses.base import CriticOutput, GANLoss, sample_mean


class HingeLoss(GANLoss):
    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return sample_mean(torch.relu(1.0 - real.score)) + sample_mean(torch.relu(1.0 + fake.score))

    def generator_loss(self, fake: CriticOutput, real: Optional[CriticOutput] = None) -> Tensor:
        return -sample_mean(fake.score)
