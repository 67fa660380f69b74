"""What an architecture hands the trainer: a generator, a critic and the latent size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

from torch import Tensor, nn

Scores = Union[Tensor, Tuple[Tensor, Tensor]]


@dataclass
class GANNetworks:
    generator: nn.Module  # z [N, z_dim] -> x [N, *data_shape]
    critic: nn.Module  # forward(x, return_features=False) -> f [N], or (f, last hidden features)
    z_dim: int
