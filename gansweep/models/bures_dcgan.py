"""Bures GAN's DCGANs (lib/models.py): the CIFAR-10 nets (3 layers) and the STL-10 nets (4 layers), any square side.

Keras conventions kept: glorot_uniform init, no bias in G, BatchNormalization(eps 1e-3, momentum 0.99) placed
after each activation, LeakyReLU's default slope 0.3."""

from __future__ import annotations

from itertools import pairwise
from typing import Optional, Sequence

from torch import nn

from gansweep.models.base import GANNetworks
from gansweep.models.layers import (
    NORMS,
    ImageCritic,
    ImageGenerator,
    check_option,
    conv2d,
    deconv2d,
    image_size,
    init_uniform,
    norm2d,
)

SLOPE = 0.3  # keras.layers.LeakyReLU() default alpha
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # keras BatchNormalization defaults (its momentum 0.99 = torch momentum 0.01)


def _critic_norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM) if kind == "batch" else norm2d(kind, channels)


def build_bures_dcgan(
    data_shape: Sequence[int], z_dim: int = 100, depth: Optional[int] = None, critic_norm: str = "batch"
) -> GANNetworks:
    """depth 3 (CIFAR-10): G dense side/4 ^2 x 256, ReLU, BN, deconv5x5 128 s1, 64 s2, C s2, tanh; D conv5x5 s2
    64, 128, 256, LeakyReLU then BN after convs 2-3, flatten (the features), dense 1.
    depth 4 (STL-10): G dense side/8 ^2 x 256, deconv 256 s1, 128 s2, 64 s2, C s2; D convs 64..512.
    depth None: 3 for sides up to 32, else 4."""
    channels, side = image_size(tuple(data_shape), "bures_dcgan")
    depth = (3 if side <= 32 else 4) if depth is None else depth
    if depth not in (3, 4):
        raise ValueError(f"arch.depth={depth!r} is not an option; choose 3 (CIFAR-10 nets) or 4 (STL-10 nets)")
    check_option("arch.critic_norm", critic_norm, NORMS)
    n_up = depth - 1  # stride-2 deconvs after the stride-1 one
    if side % 2**n_up:
        raise ValueError(f"arch=bures_dcgan with depth {depth} needs a side divisible by {2**n_up}, got {side}")
    start = side // 2**n_up
    widths = [256] + [64 * 2**i for i in reversed(range(n_up))]  # 256, 128, 64 (depth 3); 256, 256, 128, 64

    units = start * start * 256
    g: list[nn.Module] = [init_uniform(nn.Linear(z_dim, units, bias=False), "keras"), nn.ReLU()]
    g += [nn.BatchNorm1d(units, eps=BN_EPS, momentum=BN_MOMENTUM), nn.Unflatten(1, (256, start, start))]
    for i, (a, b) in enumerate(pairwise(widths)):
        g += [
            deconv2d(a, b, 5, 1 if i == 0 else 2, bias=False, init="keras"),
            nn.ReLU(),
            nn.BatchNorm2d(b, eps=BN_EPS, momentum=BN_MOMENTUM),
        ]
    g += [deconv2d(widths[-1], channels, 5, 2, bias=False, init="keras"), nn.Tanh()]

    d: list[nn.Module] = [conv2d(channels, 64, 5, 2, init="keras"), nn.LeakyReLU(SLOPE)]
    width, size = 64, (side + 1) // 2
    for _ in range(depth - 1):
        d += [conv2d(width, 2 * width, 5, 2, init="keras"), nn.LeakyReLU(SLOPE), _critic_norm(critic_norm, 2 * width)]
        width, size = 2 * width, (size + 1) // 2
    d += [nn.Flatten()]
    return GANNetworks(
        generator=ImageGenerator(nn.Sequential(*g)),
        critic=ImageCritic(nn.Sequential(*d), size * size * width, out_init="keras"),
        z_dim=z_dim,
    )
