"""MLPs for 2-D toy data: WGAN-GP's gan_toy (3 x 512 ReLU) and Bures GAN's (2 x 128 tanh)."""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence

from torch import Tensor, nn

from gansweep.models.base import GANNetworks, Scores
from gansweep.models.layers import init_uniform

INITS = ("torch", "keras", "he", "glorot")

ACTIVATIONS: Dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}


def _stack(in_dim: int, hidden: int, depth: int, activation: str) -> nn.Sequential:
    if activation not in ACTIVATIONS:
        raise ValueError(f"arch.activation={activation!r} is not an option; choose one of {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else hidden, hidden), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    leading_dims_agnostic = True  # its forward takes z [..., z_dim]: gansweep.model.batched runs K points at once

    def __init__(self, z_dim: int, data_shape: Sequence[int], hidden: int, depth: int, activation: str) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.body = _stack(z_dim, hidden, depth, activation)
        self.out = nn.Linear(hidden, math.prod(self.data_shape))

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.body(z)).unflatten(-1, self.data_shape)


class MLPCritic(nn.Module):
    leading_dims_agnostic = True  # its forward takes x [..., *data_shape]

    def __init__(self, data_shape: Sequence[int], hidden: int, depth: int, activation: str) -> None:
        super().__init__()
        self.data_dims = len(data_shape)
        self.body = _stack(math.prod(data_shape), hidden, depth, activation)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: Tensor, return_features: bool = False) -> Scores:
        features = self.body(x.flatten(-self.data_dims))
        score = self.out(features).squeeze(-1)
        return (score, features) if return_features else score


def build_mlp(
    data_shape: Sequence[int],
    z_dim: int = 2,
    hidden: int = 512,
    depth: int = 3,
    activation: str = "relu",
    init: Optional[str] = "torch",
) -> GANNetworks:
    """Generator and critic with `depth` hidden layers of `hidden` units; the critic's features are the last.

    init: "torch" (PyTorch's default) or a uniform scheme of gansweep.models.layers.init_uniform with zero biases;
    "keras" is Keras' glorot_uniform, the Bures GAN authors' (it matters: their ring does not train from PyTorch's
    smaller initial weights, the generator collapses and the critic wins).
    """
    if init not in INITS:
        raise ValueError(f"arch.init={init!r} is not an option; choose one of {', '.join(INITS)}")
    networks = GANNetworks(
        generator=MLPGenerator(z_dim, data_shape, hidden, depth, activation),
        critic=MLPCritic(data_shape, hidden, depth, activation),
        z_dim=z_dim,
    )
    if init != "torch":
        for layer in [*networks.generator.modules(), *networks.critic.modules()]:
            if isinstance(layer, nn.Linear):
                init_uniform(layer, init)
    return networks
