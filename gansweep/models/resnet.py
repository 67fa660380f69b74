"""WGAN-GP's ResNets: gan_cifar_resnet.py at 32x32 (128 channels) and gan_64x64.py's Good* models (DIM 64)."""

from __future__ import annotations

from itertools import pairwise
from typing import Optional, Sequence

from torch import Tensor, nn

from gansweep.models.base import GANNetworks
from gansweep.models.layers import (
    ImageCritic,
    ImageGenerator,
    ResBlock,
    conv2d,
    conv_mean_pool,
    init_uniform,
    mean_pool_conv,
    norm2d,
    paper_size,
)

PAPER_DIM = {32: 128, 64: 64}
# gan_cifar_resnet: NORMALIZATION_D False; gan_64x64: Normalize() in the critic is LayerNorm under wgan-gp
PAPER_CRITIC_NORM = {32: "none", 64: "layer"}


class OptimizedDownBlock(nn.Module):
    """The critic's first block (OptimizedResBlockDisc1): conv, ReLU, conv + mean pool, no pre-activation on the
    image; shortcut mean pool + 1x1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.shortcut = mean_pool_conv(c_in, c_out, 1, init="glorot")
        self.residual = nn.Sequential(conv2d(c_in, c_out, 3), nn.ReLU(), conv_mean_pool(c_out, c_out, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.residual(x)


def _resnet_32(channels: int, z_dim: int, dim: int, critic_norm: str) -> tuple[nn.Module, nn.Module, int]:
    """G: linear -> dim x 4 x 4, 3 up-blocks, BN, ReLU, conv3x3, tanh. D: optimized down-block, down, plain,
    plain, ReLU, global mean pool (the features), linear. All convs carry a bias (tflib's default)."""
    g = nn.Sequential(
        init_uniform(nn.Linear(z_dim, 4 * 4 * dim), "glorot"),
        nn.Unflatten(1, (dim, 4, 4)),
        *(ResBlock(dim, dim, "up", nn.BatchNorm2d) for _ in range(3)),
        nn.BatchNorm2d(dim),
        nn.ReLU(),
        conv2d(dim, channels, 3, init="glorot"),
        nn.Tanh(),
    )

    def norm(c: int) -> nn.Module:
        return norm2d(critic_norm, c)

    d = nn.Sequential(
        OptimizedDownBlock(channels, dim),
        ResBlock(dim, dim, "down", norm),
        ResBlock(dim, dim, None, norm),
        ResBlock(dim, dim, None, norm),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return g, d, dim


def _resnet_64(channels: int, z_dim: int, dim: int, critic_norm: str) -> tuple[nn.Module, nn.Module, int]:
    """GoodGenerator: linear -> 8dim x 4 x 4, up-blocks 8d->8d->4d->2d->d, BN, ReLU, conv3x3, tanh.
    GoodDiscriminator: conv3x3 -> d, down-blocks d->2d->4d->8d->8d, flatten 4*4*8d (the features), linear.
    Blocks' first conv has no bias (it feeds a norm), as in gan_64x64's ResidualBlock."""
    widths = [8 * dim, 8 * dim, 4 * dim, 2 * dim, dim]
    g = nn.Sequential(
        init_uniform(nn.Linear(z_dim, 4 * 4 * widths[0]), "glorot"),
        nn.Unflatten(1, (widths[0], 4, 4)),
        *(ResBlock(a, b, "up", nn.BatchNorm2d, conv1_bias=False) for a, b in pairwise(widths)),
        nn.BatchNorm2d(dim),
        nn.ReLU(),
        conv2d(dim, channels, 3, init="he"),
        nn.Tanh(),
    )

    def norm(c: int) -> nn.Module:
        return norm2d(critic_norm, c)

    widths = [dim, 2 * dim, 4 * dim, 8 * dim, 8 * dim]
    d = nn.Sequential(
        conv2d(channels, dim, 3, init="glorot"),
        *(ResBlock(a, b, "down", norm, conv1_bias=False) for a, b in pairwise(widths)),
        nn.Flatten(),
    )
    return g, d, 4 * 4 * 8 * dim


def build_resnet(
    data_shape: Sequence[int], z_dim: int = 128, dim: Optional[int] = None, critic_norm: Optional[str] = None
) -> GANNetworks:
    """WGAN-GP's ResNet generator and critic for 32x32 or 64x64 images (pre-activation blocks, 3x3 convs).
    dim / critic_norm None: the paper's for this resolution (PAPER_DIM, PAPER_CRITIC_NORM)."""
    channels, side, dim, critic_norm = paper_size(
        "resnet", tuple(data_shape), PAPER_DIM, PAPER_CRITIC_NORM, dim, critic_norm, "gan_cifar_resnet / gan_64x64"
    )
    g, d, n_features = (_resnet_32 if side == 32 else _resnet_64)(channels, z_dim, dim, critic_norm)
    return GANNetworks(generator=ImageGenerator(g), critic=ImageCritic(d, n_features), z_dim=z_dim)
