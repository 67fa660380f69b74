"""Image architectures: shapes and the [*points, N] contract, parameter counts against the papers' layer tables
(counted by hand below, layer by layer), a gradient penalty's double backward, and clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from gansweep.models.bures_dcgan import build_bures_dcgan
from gansweep.models.dcgan import build_dcgan
from gansweep.models.layers import deconv2d, upsample_conv
from gansweep.models.resnet import build_resnet
from tests.conftest import compose_config

# (builder, data_shape, kwargs of a narrow copy for the forward tests): every supported resolution, 3 and 1 channels
CASES = [
    (build_dcgan, (3, 32, 32), {"dim": 16}),
    (build_dcgan, (1, 32, 32), {"dim": 16}),
    (build_dcgan, (3, 64, 64), {"dim": 8}),
    (build_resnet, (3, 32, 32), {"dim": 16}),
    (build_resnet, (1, 32, 32), {"dim": 16}),
    (build_resnet, (3, 64, 64), {"dim": 8}),
    (build_bures_dcgan, (3, 32, 32), {}),
    (build_bures_dcgan, (1, 28, 28), {}),  # the authors' own Stacked MNIST size: G starts at 7x7
    (build_bures_dcgan, (3, 48, 48), {}),
]
IDS = [f"{b.__name__}-{'x'.join(map(str, s))}" for b, s, _ in CASES]


# -- parameter counts by hand: weights + biases of each layer; a norm layer has a scale and an offset per unit --


def conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """A k x k conv or transposed conv."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def norm(units: int) -> int:
    """BatchNorm or WGAN-GP's LayerNorm (per-channel scale/offset); running statistics are not parameters."""
    return 2 * units


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def dcgan32_counts(c: int, dim: int = 128, z: int = 128) -> tuple[int, int]:
    """PAPERS.md 3.3 (gan_cifar.py)."""
    g = (
        linear(z, 4 * 4 * 4 * dim)  # Linear 128 -> 4*4*4*DIM
        + norm(4 * 4 * 4 * dim)  # its BN: tflib Batchnorm axes [0], one scale/offset per linear output
        + conv(5, 4 * dim, 2 * dim)  # Deconv 5x5 s2 -> 256x8x8
        + norm(2 * dim)  # BN
        + conv(5, 2 * dim, dim)  # Deconv 5x5 s2 -> 128x16x16
        + norm(dim)  # BN
        + conv(5, dim, c)  # Deconv 5x5 s2 -> 3x32x32, tanh
    )
    d = (
        conv(5, c, dim)  # Conv 5x5 s2 3 -> DIM
        + conv(5, dim, 2 * dim)  # Conv 5x5 s2 DIM -> 2DIM (no BN under WGAN-GP)
        + conv(5, 2 * dim, 4 * dim)  # Conv 5x5 s2 2DIM -> 4DIM
        + linear(4 * 4 * 4 * dim, 1)  # Linear 4*4*4*DIM -> 1
    )
    return g, d


def dcgan64_counts(c: int, dim: int = 64, z: int = 128) -> tuple[int, int]:
    """PAPERS.md 3.5, DCGANGenerator/DCGANDiscriminator; critic norm = LayerNorm (wgan-gp mode)."""
    g = (
        linear(z, 4 * 4 * 8 * dim)  # Linear 128 -> 512x4x4
        + norm(8 * dim)  # BN
        + conv(5, 8 * dim, 4 * dim)  # Deconv5x5 512 -> 256
        + norm(4 * dim)  # BN
        + conv(5, 4 * dim, 2 * dim)  # Deconv5x5 256 -> 128
        + norm(2 * dim)  # BN
        + conv(5, 2 * dim, dim)  # Deconv5x5 128 -> 64
        + norm(dim)  # BN
        + conv(5, dim, c)  # Deconv 64 -> 3, tanh
    )
    d = (
        conv(5, c, dim)  # Conv5x5 s2 3 -> 64, LReLU
        + conv(5, dim, 2 * dim)  # 64 -> 128
        + norm(2 * dim)  # its LayerNorm
        + conv(5, 2 * dim, 4 * dim)  # 128 -> 256
        + norm(4 * dim)  # its LayerNorm
        + conv(5, 4 * dim, 8 * dim)  # 256 -> 512
        + norm(8 * dim)  # its LayerNorm
        + linear(4 * 4 * 8 * dim, 1)  # Linear 8192 -> 1
    )
    return g, d


def resnet32_counts(c: int, dim: int = 128, z: int = 128) -> tuple[int, int]:
    """PAPERS.md 3.4 (gan_cifar_resnet.py): every conv has a bias (tflib's default), BN in G, no norm in D."""

    def up_block(ch: int) -> int:  # ResBlock [3x3]x2, Up
        return conv(1, ch, ch) + norm(ch) + conv(3, ch, ch) + norm(ch) + conv(3, ch, ch)  # shortcut, N1, c1, N2, c2

    def block(ch: int) -> int:  # ResBlock [3x3]x2 without norm; identity shortcut unless resampling
        return conv(3, ch, ch) + conv(3, ch, ch)

    g = (
        linear(z, 4 * 4 * dim)  # Linear -> 128x4x4
        + 3 * up_block(dim)  # ResBlock Up -> 8x8, 16x16, 32x32
        + norm(dim)  # BN
        + conv(3, dim, c)  # Conv 3x3, tanh
    )
    d = (
        conv(1, c, dim)  # first block's shortcut: meanpool + 1x1 conv
        + conv(3, c, dim)  # first block: conv
        + conv(3, dim, dim)  # first block: conv + meanpool
        + conv(1, dim, dim)  # ResBlock Down: 1x1 shortcut
        + block(dim)  # ResBlock Down: its two convs
        + 2 * block(dim)  # ResBlock, ResBlock (no resampling, identity shortcut)
        + linear(dim, 1)  # ReLU, global mean pool, Linear
    )
    return g, d


def resnet64_counts(c: int, dim: int = 64, z: int = 128) -> tuple[int, int]:
    """PAPERS.md 3.5, GoodGenerator/GoodDiscriminator: the blocks' first conv has no bias; critic LayerNorm."""

    def up_block(a: int, b: int) -> int:  # BN, ReLU, UpsampleConv a->b (no bias), BN, ReLU, conv b->b
        return conv(1, a, b) + norm(a) + conv(3, a, b, bias=False) + norm(b) + conv(3, b, b)  # shortcut first

    def down_block(a: int, b: int) -> int:  # LN, ReLU, conv a->a (no bias), LN, ReLU, ConvMeanPool a->b
        return conv(1, a, b) + norm(a) + conv(3, a, a, bias=False) + norm(a) + conv(3, a, b)  # shortcut first

    g = (
        linear(z, 4 * 4 * 8 * dim)  # Linear 128 -> 8*64x4x4
        + up_block(8 * dim, 8 * dim)  # ResBlock up 512 -> 512 (8x8)
        + up_block(8 * dim, 4 * dim)  # up 512 -> 256 (16)
        + up_block(4 * dim, 2 * dim)  # up 256 -> 128 (32)
        + up_block(2 * dim, dim)  # up 128 -> 64 (64)
        + norm(dim)  # BN
        + conv(3, dim, c)  # conv3x3 -> 3, tanh
    )
    d = (
        conv(3, c, dim)  # conv3x3 3 -> 64
        + down_block(dim, 2 * dim)  # down 64 -> 128 (32)
        + down_block(2 * dim, 4 * dim)  # 128 -> 256 (16)
        + down_block(4 * dim, 8 * dim)  # 256 -> 512 (8)
        + down_block(8 * dim, 8 * dim)  # 512 -> 512 (4)
        + linear(4 * 4 * 8 * dim, 1)  # flatten 4*4*512 -> Linear 1
    )
    return g, d


def bures3_counts(c: int, side: int, z: int = 100) -> tuple[int, int]:
    """PAPERS.md 4.4/4.5, the CIFAR-10 DCGAN (Keras: no bias in G, Dense/Conv biases in D)."""
    s = side // 4
    g = (
        linear(z, s * s * 256, bias=False)  # Dense 8*8*256 (ReLU, BN)
        + norm(s * s * 256)  # its BN, per unit of the dense output
        + conv(5, 256, 128, bias=False)  # deconv5x5 128 s1
        + norm(128)  # BN
        + conv(5, 128, 64, bias=False)  # 64 s2
        + norm(64)  # BN
        + conv(5, 64, c, bias=False)  # 3 s2 tanh
    )
    f = math.ceil(side / 8)  # three stride-2 'same' convs
    d = (
        conv(5, c, 64)  # conv5x5 s2 64, LeakyReLU
        + conv(5, 64, 128)  # 128
        + norm(128)  # BN after conv 2
        + conv(5, 128, 256)  # 256
        + norm(256)  # BN after conv 3
        + linear(f * f * 256, 1)  # flatten (4096-d at 32 px), Dense 1
    )
    return g, d


def bures4_counts(c: int, side: int, z: int = 100) -> tuple[int, int]:
    """PAPERS.md 4.5, the STL-10 DCGAN: G Dense (side/8)^2*256 -> deconv 256 s1, 128, 64, 3 s2; D 4 conv layers."""
    s = side // 8
    g = (
        linear(z, s * s * 256, bias=False)  # Dense 12*12*256 at 96 px (6*6*256 at 48)
        + norm(s * s * 256)  # its BN
        + conv(5, 256, 256, bias=False)  # deconv 256 s1
        + norm(256)  # BN
        + conv(5, 256, 128, bias=False)  # 128 s2
        + norm(128)  # BN
        + conv(5, 128, 64, bias=False)  # 64 s2
        + norm(64)  # BN
        + conv(5, 64, c, bias=False)  # 3 s2, tanh
    )
    f = math.ceil(side / 16)  # four stride-2 'same' convs
    d = (
        conv(5, c, 64)  # conv 64
        + conv(5, 64, 128)  # conv 128
        + norm(128)  # BN
        + conv(5, 128, 256)  # conv 256
        + norm(256)  # BN
        + conv(5, 256, 512)  # conv 512
        + norm(512)  # BN
        + linear(f * f * 512, 1)  # flatten, Dense 1
    )
    return g, d


EXPECTED = {  # (channels, **kwargs) -> (G, D) parameters
    ("build_dcgan", 32): dcgan32_counts,
    ("build_dcgan", 64): dcgan64_counts,
    ("build_resnet", 32): resnet32_counts,
    ("build_resnet", 64): resnet64_counts,
    ("build_bures_dcgan", 28): lambda c: bures3_counts(c, 28),
    ("build_bures_dcgan", 32): lambda c: bures3_counts(c, 32),
    ("build_bures_dcgan", 48): lambda c: bures4_counts(c, 48),
}
FEATURES = {  # the critic's last hidden layer, in units of dim where there is one
    ("build_dcgan", 32): lambda dim: 4 * 4 * 4 * dim,  # 8192 at DIM 128
    ("build_dcgan", 64): lambda dim: 4 * 4 * 8 * dim,  # 8192 at DIM 64
    ("build_resnet", 32): lambda dim: dim,  # global mean pool
    ("build_resnet", 64): lambda dim: 4 * 4 * 8 * dim,
    ("build_bures_dcgan", 28): lambda _: 4 * 4 * 256,
    ("build_bures_dcgan", 32): lambda _: 4 * 4 * 256,  # 4096-d
    ("build_bures_dcgan", 48): lambda _: 3 * 3 * 512,
}


@pytest.fixture(scope="module")
def nets():
    """The narrow copies (fast forward passes on CPU)."""
    torch.manual_seed(0)
    return {(b.__name__, s): b(s, **kw) for b, s, kw in CASES}


@pytest.mark.parametrize("builder, shape, kwargs", CASES, ids=IDS)
def test_parameter_counts_match_the_papers_tables(nets, builder, shape, kwargs):
    """The paper's sizes, and the narrow copy (a DIM other than the default follows the same table)."""
    count = EXPECTED[(builder.__name__, shape[-1])]
    built = builder(shape)
    assert (n_params(built.generator), n_params(built.critic)) == count(shape[0])
    narrow = nets[(builder.__name__, shape)]
    assert (n_params(narrow.generator), n_params(narrow.critic)) == count(shape[0], **kwargs)


@pytest.mark.parametrize("builder, shape, kwargs", CASES, ids=IDS)
def test_shapes_range_and_leading_points_dim(nets, builder, shape, kwargs):
    built = nets[(builder.__name__, shape)]
    n_features = FEATURES[(builder.__name__, shape[-1])](kwargs.get("dim"))
    x = built.generator(torch.randn(4, built.z_dim))
    assert x.shape == (4, *shape)
    assert x.abs().max() <= 1.0
    score, features = built.critic(x, return_features=True)
    assert score.shape == (4,) and features.shape == (4, n_features)
    assert built.critic(x).shape == (4,)

    xs = built.generator(torch.randn(2, 3, built.z_dim))  # a fused group of 2 points
    assert xs.shape == (2, 3, *shape)
    score, features = built.critic(xs, return_features=True)
    assert score.shape == (2, 3) and features.shape == (2, 3, n_features)


@pytest.mark.parametrize("builder, shape, kwargs", CASES, ids=IDS)
def test_points_of_a_group_do_not_share_batch_statistics(nets, builder, shape, kwargs):
    built = nets[(builder.__name__, shape)]
    z = torch.randn(2, 3, built.z_dim)
    stacked = built.generator(z)  # training mode: batch norm uses each point's own batch
    assert torch.allclose(stacked[1], built.generator(z[1]), atol=1e-5)
    assert torch.allclose(built.critic(stacked)[0], built.critic(stacked[0]), atol=1e-4)
    built.generator.eval()
    try:
        assert torch.allclose(built.generator(z)[1], built.generator(z[1]), atol=1e-5)
    finally:
        built.generator.train()


@pytest.mark.parametrize("builder, shape, kwargs", CASES, ids=IDS)
def test_gradient_penalty_double_backward(nets, builder, shape, kwargs):
    critic = nets[(builder.__name__, shape)].critic
    critic.zero_grad()
    x_hat = torch.randn(3, *shape).clamp(-1, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    penalty = ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
    penalty.backward()
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight") and p.dim() > 1]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in weights)
    assert sum(p.grad.abs().sum() for p in weights) > 0


def test_critic_norm_options_change_only_the_norm_layers():
    _, d = dcgan32_counts(3)
    assert n_params(build_dcgan((3, 32, 32), critic_norm="layer").critic) == d + norm(256) + norm(512)
    _, d = resnet32_counts(3)
    blocks_norms = norm(128) * 2 * 3  # N1 and N2 in the down block and the two plain blocks
    assert n_params(build_resnet((3, 32, 32), critic_norm="layer").critic) == d + blocks_norms
    _, d = bures3_counts(3, 32)
    assert n_params(build_bures_dcgan((3, 32, 32), critic_norm="none").critic) == d - norm(128) - norm(256)
    nets = build_dcgan((3, 64, 64), dim=32, critic_norm="batch")  # a smaller DIM
    assert n_params(nets.generator) == dcgan64_counts(3, dim=32)[0]


def test_bures_dcgan_stl10_sizes():
    for side in (64, 96):
        g, d = bures4_counts(3, side)
        built = build_bures_dcgan((3, side, side))
        assert (n_params(built.generator), n_params(built.critic)) == (g, d)
    assert build_bures_dcgan((3, 96, 96)).critic(torch.zeros(2, 3, 96, 96), return_features=True)[1].shape == (
        2,
        6 * 6 * 512,
    )


@pytest.mark.parametrize(
    "builder, shape, kwargs, message",
    [
        (build_dcgan, (3, 48, 48), {}, "arch=bures_dcgan"),
        (build_resnet, (3, 28, 28), {}, "arch=bures_dcgan"),
        (build_dcgan, (2,), {}, "arch=dcgan needs square images"),
        (build_resnet, (3, 32, 16), {}, "arch=resnet needs square images"),
        (build_bures_dcgan, (3, 30, 30), {}, "divisible by 4"),
        (build_bures_dcgan, (3, 32, 32), {"depth": 5}, "arch.depth"),
        (build_dcgan, (3, 32, 32), {"critic_norm": "spectral"}, "arch.critic_norm"),
        (build_resnet, (3, 64, 64), {"critic_norm": "group"}, "arch.critic_norm"),
        (build_bures_dcgan, (3, 32, 32), {"critic_norm": "instance"}, "arch.critic_norm"),
    ],
)
def test_clear_errors(builder, shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(shape, **kwargs)


def test_same_padding_doubles_and_upsampling_is_depth_to_space_of_copies():
    assert deconv2d(8, 4)(torch.zeros(1, 8, 5, 5)).shape == (1, 4, 10, 10)
    x = torch.randn(2, 3, 4, 4)
    up = upsample_conv(3, 3, 1)[0](x)
    # tflib: concat 4 copies on channels, depth_to_space(2); torch's pixel_shuffle groups channel c as c*4 + k
    assert torch.equal(up, F.pixel_shuffle(x.repeat_interleave(4, dim=1), 2))


def test_initialisation_follows_the_reference_code():
    dc64 = build_dcgan((3, 64, 64))  # gan_64x64 DCGAN: uniform, std 0.02
    w = dc64.critic.features[0].weight
    assert w.abs().max() <= 0.02 * math.sqrt(3) and w.std().item() == pytest.approx(0.02, rel=0.05)
    dc32 = build_dcgan((3, 32, 32))  # gan_cifar: tflib He for a stride-2 conv, fans 5*5*3 and 5*5*128/4
    w = dc32.critic.features[0].weight
    assert w.std().item() == pytest.approx(math.sqrt(4 / (75 + 800)), rel=0.05)
    bures = build_bures_dcgan((3, 32, 32))  # Keras glorot_uniform for Dense 100 -> 16384
    w = bures.generator.body[0].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / (100 + 16384)), rel=0.02)
    assert all(b.abs().sum() == 0 for name, b in dc32.critic.named_parameters() if name.endswith("bias"))


@pytest.mark.parametrize("name, z_dim", [("dcgan", 128), ("resnet", 128), ("bures_dcgan", 100)])
def test_arch_yaml_builds_the_papers_nets(name, z_dim):
    cfg = compose_config([f"arch={name}"])
    built = instantiate(cfg.arch, data_shape=(3, 32, 32))
    assert built.z_dim == z_dim
    builder = {"dcgan": build_dcgan, "resnet": build_resnet, "bures_dcgan": build_bures_dcgan}[name]
    assert n_params(built.critic) == n_params(builder((3, 32, 32)).critic)
    assert (n_params(built.generator), n_params(built.critic)) == EXPECTED[(builder.__name__, 32)](3)
