"""What an architecture hands the trainer: a generator, a critic and the latent size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

from torch import Tensor, nn

Scores = Union[Tensor, Tuple[Tensor, Tensor]]


@dataclass
class GANNetworks:
    """Leading dims before N index the points of a fused group; an ordinary run has none."""

    generator: nn.Module  # z [*points, N, z_dim] -> x [*points, N, *data_shape]
    critic: nn.Module  # forward(x, return_features=False) -> f [*points, N], or (f, features [*points, N, F])
    z_dim: int
