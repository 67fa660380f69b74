"""Building blocks shared by the image architectures: initialisers, norms, WGAN-GP's resampling convs and
residual block, and the generator/critic wrappers that keep the [*points, N, ...] contract."""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Tuple, TypeVar, Union

import torch
from torch import Tensor, nn

from gansweep.models.base import Scores

Layer = TypeVar("Layer", nn.Linear, nn.Conv2d, nn.ConvTranspose2d)

NORMS = ("none", "layer", "batch")


def check_option(key: str, value: str, options: Tuple[str, ...]) -> str:
    """A config error that names the key to change and its options."""
    if value not in options:
        raise ValueError(f"{key}={value!r} is not an option; choose one of {', '.join(options)}")
    return value


def image_size(data_shape: Tuple[int, ...], arch: str) -> Tuple[int, int]:
    """(channels, side) of square CxHxW data; anything else is a clear error naming the arch."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ValueError(f"arch={arch} needs square images (C, H, W), got data shape {tuple(data_shape)}")
    return data_shape[0], data_shape[2]


def paper_size(
    arch: str,
    data_shape: Tuple[int, ...],
    paper_dim: Dict[int, int],
    paper_norm: Dict[int, str],
    dim: Optional[int],
    critic_norm: Optional[str],
    sources: str,
) -> Tuple[int, int, int, str]:
    """(channels, side, dim, critic_norm) of an architecture defined at the sides in paper_dim; None settings take
    the paper's for that side. `sources` names the reference code per side, for the error message."""
    channels, side = image_size(data_shape, arch)
    if side not in paper_dim:
        sides = " or ".join(f"{s}x{s}" for s in paper_dim)
        raise ValueError(
            f"arch={arch} builds {sides} images ({sources}), not {side}x{side}; "
            "use arch=bures_dcgan (any side divisible by 4 or 8) or resize the dataset"
        )
    norm = check_option("arch.critic_norm", paper_norm[side] if critic_norm is None else critic_norm, NORMS)
    return channels, side, paper_dim[side] if dim is None else dim, norm


# -- initialisation ---------------------------------------------------------------------------------------


def _fans(layer: Layer, scheme: str) -> Tuple[float, float]:
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    k = math.prod(layer.kernel_size)
    s = 1 if scheme == "keras" else math.prod(layer.stride)
    fan_in, fan_out = layer.in_channels * k, layer.out_channels * k
    # tflib divides the fan on the strided side by stride^2: the output of a conv, the input of a transposed conv
    return (fan_in / s, fan_out) if isinstance(layer, nn.ConvTranspose2d) else (fan_in, fan_out / s)


def init_uniform(layer: Layer, scheme: Union[str, float] = "he") -> Layer:
    """Uniform weights of tflib's std and zero biases: 'he' sqrt(4 / (fan_in + fan_out)), 'glorot' sqrt(2 / ...),
    'keras' = Keras' glorot_uniform (fans without stride); a float is the std itself (gan_64x64's DCGAN: 0.02)."""
    if isinstance(scheme, str):
        fan_in, fan_out = _fans(layer, scheme)
        std = math.sqrt({"he": 4.0, "glorot": 2.0, "keras": 2.0}[scheme] / (fan_in + fan_out))
    else:
        std = scheme
    nn.init.uniform_(layer.weight, -std * math.sqrt(3.0), std * math.sqrt(3.0))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv2d(
    c_in: int, c_out: int, kernel: int, stride: int = 1, bias: bool = True, init: Union[str, float] = "he"
) -> nn.Conv2d:
    """Conv with TF 'SAME' output size (side / stride); padding is symmetric, k // 2."""
    return init_uniform(nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=bias), init)


def deconv2d(
    c_in: int, c_out: int, kernel: int = 5, stride: int = 2, bias: bool = True, init: Union[str, float] = "he"
) -> nn.ConvTranspose2d:
    """Transposed conv with TF 'SAME' output size (side * stride): padding k // 2, output_padding stride - 1."""
    layer = nn.ConvTranspose2d(c_in, c_out, kernel, stride, kernel // 2, output_padding=stride - 1, bias=bias)
    return init_uniform(layer, init)


# -- normalisation -----------------------------------------------------------------------------------------


def channel_layer_norm(channels: int) -> nn.GroupNorm:
    """WGAN-GP's critic LayerNorm: statistics over (C, H, W) per sample, scale/offset per channel."""
    return nn.GroupNorm(1, channels, eps=1e-5)


def norm2d(kind: str, channels: int, key: str = "arch.critic_norm") -> nn.Module:
    """'none' | 'layer' (over C,H,W; safe under a gradient penalty) | 'batch' (per channel over the batch)."""
    check_option(key, kind, NORMS)
    if kind == "layer":
        return channel_layer_norm(channels)
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


# -- WGAN-GP's resampling convs and residual block (gan_cifar_resnet.py, gan_64x64.py) ---------------------


def mean_pool_conv(c_in: int, c_out: int, kernel: int, bias: bool = True, init: str = "he") -> nn.Sequential:
    """2x2 mean pool, then conv (MeanPoolConv)."""
    return nn.Sequential(nn.AvgPool2d(2), conv2d(c_in, c_out, kernel, bias=bias, init=init))


def conv_mean_pool(c_in: int, c_out: int, kernel: int, bias: bool = True, init: str = "he") -> nn.Sequential:
    """Conv, then 2x2 mean pool (ConvMeanPool)."""
    return nn.Sequential(conv2d(c_in, c_out, kernel, bias=bias, init=init), nn.AvgPool2d(2))


def upsample_conv(c_in: int, c_out: int, kernel: int, bias: bool = True, init: str = "he") -> nn.Sequential:
    """Nearest-neighbour 2x upsample (depth_to_space of 4 copies), then conv (UpsampleConv)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv2d(c_in, c_out, kernel, bias=bias, init=init))


class ResBlock(nn.Module):
    """Pre-activation block: shortcut(x) + conv2(ReLU(N2(conv1(ReLU(N1(x)))))), resampling 'up', 'down' or None.

    Up: conv1 = upsample_conv in->out, shortcut upsample_conv 1x1. Down: conv1 in->in, conv2 = conv_mean_pool
    in->out, shortcut a 1x1 conv with mean pool (pool and 1x1 conv commute: ConvMeanPool = MeanPoolConv).
    Shortcuts are Glorot-initialised with bias, the rest He; conv1_bias=False is gan_64x64's choice."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        resample: Optional[str],
        norm: Callable[[int], nn.Module],
        conv1_bias: bool = True,
        kernel: int = 3,
    ) -> None:
        super().__init__()
        self.shortcut: nn.Module
        conv1: nn.Module
        conv2: nn.Module
        if resample == "up":
            conv1, mid = upsample_conv(c_in, c_out, kernel, bias=conv1_bias), c_out
            conv2 = conv2d(c_out, c_out, kernel)
            self.shortcut = upsample_conv(c_in, c_out, 1, init="glorot")
        elif resample == "down":
            conv1, mid = conv2d(c_in, c_in, kernel, bias=conv1_bias), c_in
            conv2 = conv_mean_pool(c_in, c_out, kernel)
            self.shortcut = mean_pool_conv(c_in, c_out, 1, init="glorot")
        elif resample is None:
            conv1, mid = conv2d(c_in, c_out, kernel, bias=conv1_bias), c_out
            conv2 = conv2d(c_out, c_out, kernel)
            self.shortcut = nn.Identity() if c_in == c_out else conv2d(c_in, c_out, 1, init="glorot")
        else:
            raise ValueError(f"resample={resample!r}: choose 'up', 'down' or None")
        self.residual = nn.Sequential(norm(c_in), nn.ReLU(), conv1, norm(mid), nn.ReLU(), conv2)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.residual(x)


# -- the [*points, N, ...] contract ----------------------------------------------------------------------


def over_points(
    fn: Callable[[Tensor], Tuple[Tensor, ...]], x: Tensor, event_dims: int, per_point: bool = False
) -> Tuple[Tensor, ...]:
    """Apply fn (batch [B, *event] -> outputs [B, ...]) to x [*points, N, *event]: leading dims are folded into
    the batch and restored on every output. per_point runs each [N, *event] slice alone, so that batch-norm
    statistics in training stay per point instead of mixing the points of a fused group."""
    lead = x.shape[: x.dim() - event_dims]
    flat = x.reshape(-1, *x.shape[x.dim() - event_dims :])
    if per_point and len(lead) > 1:
        parts = [fn(chunk) for chunk in flat.split(lead[-1])]
        outs = tuple(torch.cat(group) for group in zip(*parts, strict=True))
    else:
        outs = fn(flat)
    return tuple(out.reshape(*lead, *out.shape[1:]) for out in outs)


def _has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class ImageGenerator(nn.Module):
    """z [*points, N, z_dim] -> x [*points, N, C, H, W] through `body` (a batch [B, z_dim] -> [B, C, H, W])."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.batch_norm = _has_batch_norm(body)

    def forward(self, z: Tensor) -> Tensor:
        (x,) = over_points(lambda b: (self.body(b),), z, 1, per_point=self.training and self.batch_norm)
        return x


class ImageCritic(nn.Module):
    """f(x) = out(features(x)); `features` maps [B, C, H, W] to the last hidden layer [B, F] (what Bures uses)."""

    def __init__(self, features: nn.Module, n_features: int, out_init: Union[str, float] = "glorot") -> None:
        super().__init__()
        self.features = features
        self.out = init_uniform(nn.Linear(n_features, 1), out_init)
        self.batch_norm = _has_batch_norm(features)

    def _score(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        h = self.features(x)
        return self.out(h).squeeze(-1), h

    def forward(self, x: Tensor, return_features: bool = False) -> Scores:
        score, h = over_points(self._score, x, 3, per_point=self.training and self.batch_norm)
        return (score, h) if return_features else score
