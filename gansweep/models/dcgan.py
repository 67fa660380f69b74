"""WGAN-GP's DCGANs: gan_cifar.py at 32x32 (DIM 128) and gan_64x64.py's DCGANGenerator/Discriminator (DIM 64)."""

from __future__ import annotations

from typing import Optional, Sequence

from torch import nn

from gansweep.models.base import GANNetworks
from gansweep.models.layers import (
    ImageCritic,
    ImageGenerator,
    conv2d,
    deconv2d,
    init_uniform,
    norm2d,
    paper_size,
)

PAPER_DIM = {32: 128, 64: 64}
# gan_cifar's WGAN-GP critic has no norm; gan_64x64 normalises critic convs 2..4, with LayerNorm under wgan-gp
PAPER_CRITIC_NORM = {32: "none", 64: "layer"}


def build_dcgan(
    data_shape: Sequence[int], z_dim: int = 128, dim: Optional[int] = None, critic_norm: Optional[str] = None
) -> GANNetworks:
    """G: linear -> top x 4 x 4, stride-2 5x5 deconvs halving the width down to `dim`, then to C, tanh; the critic
    mirrors it with stride-2 5x5 convs and LeakyReLU(0.2); features = the flattened last conv layer.
    dim / critic_norm None: the paper's for this resolution (PAPER_DIM, PAPER_CRITIC_NORM)."""
    channels, side, dim, critic_norm = paper_size(
        "dcgan", tuple(data_shape), PAPER_DIM, PAPER_CRITIC_NORM, dim, critic_norm, "gan_cifar / gan_64x64"
    )
    n_up = 3 if side == 32 else 4  # 4x4 -> side
    top = dim * 2 ** (n_up - 1)  # 4 DIM at 32 px, 8 DIM at 64 px
    # gan_cifar: tflib's default init (He for convs, Glorot for linears); gan_64x64's DCGAN: std 0.02 everywhere
    conv_init, linear_init = ("he", "glorot") if side == 32 else (0.02, 0.02)

    g: list[nn.Module] = [init_uniform(nn.Linear(z_dim, 4 * 4 * top), linear_init)]
    if side == 32:  # gan_cifar batch-normalises each of the 4*4*4*DIM linear outputs (Batchnorm axes [0])
        g += [nn.BatchNorm1d(4 * 4 * top), nn.ReLU(), nn.Unflatten(1, (top, 4, 4))]
    else:
        g += [nn.Unflatten(1, (top, 4, 4)), nn.BatchNorm2d(top), nn.ReLU()]
    width = top
    for _ in range(n_up - 1):
        g += [deconv2d(width, width // 2, init=conv_init), nn.BatchNorm2d(width // 2), nn.ReLU()]
        width //= 2
    g += [deconv2d(width, channels, init=conv_init), nn.Tanh()]

    d: list[nn.Module] = [conv2d(channels, dim, 5, 2, init=conv_init), nn.LeakyReLU(0.2)]
    width = dim
    for _ in range(n_up - 1):
        d += [conv2d(width, 2 * width, 5, 2, init=conv_init), norm2d(critic_norm, 2 * width), nn.LeakyReLU(0.2)]
        width *= 2
    d += [nn.Flatten()]
    return GANNetworks(
        generator=ImageGenerator(nn.Sequential(*g)),
        critic=ImageCritic(nn.Sequential(*d), 4 * 4 * top, out_init=linear_init),
        z_dim=z_dim,
    )
