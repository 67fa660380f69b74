"""StackedNetwork: K points' networks run as one vmapped call equal each network run alone (float64): outputs,
features, parameter gradients, the gradient penalty's double backward, spectral norm's power-iteration vectors and
batch norm's running statistics, for every architecture."""

import copy

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gansweep.constraints.spectral_norm import SpectralNorm
from gansweep.constraints.weight_clip import WeightClip
from gansweep.model.stack import stacked_network as StackedNetwork
from gansweep.paths import conf_dir

K, N = 3, 4
ARCHS = {
    "mlp": ((2,), {}),
    "gan_toy": ((2,), {}),
    "dcgan": ((3, 32, 32), {"dim": 8}),
    "resnet": ((3, 32, 32), {"dim": 8}),
    "bures_dcgan": ((3, 32, 32), {}),
}


pytestmark = pytest.mark.usefixtures("default_float64")


def points(arch, spectral_norm=False):
    """K networks of `arch`, each initialised from its own seed, and an untouched copy of each (the reference)."""
    shape, sizes = ARCHS[arch]
    cfg = OmegaConf.merge(OmegaConf.load(conf_dir() / "arch" / f"{arch}.yaml"), sizes)
    nets = []
    for seed in range(K):
        torch.manual_seed(seed)
        net = instantiate(cfg, data_shape=shape)
        if spectral_norm:
            SpectralNorm().prepare(net.critic)
        nets.append(net)
    return nets, copy.deepcopy(nets), shape


def assert_same_state(fused, alone, k, stacked):
    """Point k's gradients (its slice of the stacked networks' `stacked`) and buffers equal the network's alone."""
    for a, b, network in ((fused.generator, alone.generator, stacked[0]), (fused.critic, alone.critic, stacked[1])):
        grads = network.point_grads(k)
        for name, q in b.named_parameters():
            assert (grads[name] is None) == (q.grad is None), name
            if q.grad is not None:
                torch.testing.assert_close(grads[name], q.grad, rtol=0, atol=1e-10, msg=name)
        for (name, p), (_, q) in zip(a.named_buffers(), b.named_buffers(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12, msg=name)


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_stacked_points_equal_each_point_alone(arch, spectral_norm):
    nets, alone, shape = points(arch, spectral_norm)
    generator = StackedNetwork([n.generator for n in nets])
    critic = StackedNetwork([n.critic for n in nets])
    z = torch.randn(K, N, nets[0].z_dim)
    fake = generator(z)
    score, features = critic(fake, return_features=True)
    real = torch.randn(K, N, *shape).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)  # a gradient penalty's inner grad
    ((score + features.pow(2).sum(-1)).sum() + grad.pow(2).sum()).backward()
    for i, net in enumerate(alone):
        fake_i = net.generator(z[i])
        score_i, features_i = net.critic(fake_i, return_features=True)
        real_i = real[i].detach().requires_grad_(True)
        (grad_i,) = torch.autograd.grad(net.critic(real_i).sum(), real_i, create_graph=True)
        ((score_i + features_i.pow(2).sum(-1)).sum() + grad_i.pow(2).sum()).backward()
        torch.testing.assert_close(fake[i], fake_i, rtol=0, atol=1e-12)
        torch.testing.assert_close(score[i], score_i, rtol=0, atol=1e-12)
        torch.testing.assert_close(grad[i], grad_i, rtol=0, atol=1e-10)
        assert_same_state(nets[i], net, i, (generator, critic))


def test_a_point_that_turns_nan_leaves_the_others_untouched():
    nets, alone, _ = points("dcgan")
    with torch.no_grad():
        next(nets[1].generator.parameters()).fill_(float("nan"))
    generator = StackedNetwork([n.generator for n in nets])
    z = torch.randn(K, N, nets[0].z_dim)
    out = generator(z)
    out.sum().backward()
    assert out[1].isnan().all() and not out[[0, 2]].isnan().any()
    for i in (0, 2):
        out_i = alone[i].generator(z[i])
        out_i.sum().backward()
        torch.testing.assert_close(out[i], out_i, rtol=0, atol=1e-12)
        assert_same_state(nets[i], alone[i], i, (generator, StackedNetwork([n.critic for n in nets])))


def test_eval_mode_uses_each_points_running_statistics_and_clipping_stays_per_point():
    nets, alone, _ = points("dcgan")
    generator = StackedNetwork([n.generator for n in nets])
    z = torch.randn(K, N, nets[0].z_dim)
    generator(z)  # train mode: each point's running statistics move, as they do alone
    for i, net in enumerate(alone):
        net.generator(z[i])
    generator.eval()
    out = generator(z)
    for i, net in enumerate(alone):
        torch.testing.assert_close(out[i], net.generator.eval()(z[i]), rtol=0, atol=1e-12)
    clip = WeightClip(0.01)
    for net, ref in zip(nets, alone, strict=True):
        clip.after_critic_step(net.critic)
        clip.after_critic_step(ref.critic)
        for p, q in zip(net.critic.parameters(), ref.critic.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_one_point_runs_the_module_itself():
    nets, alone, shape = points("mlp")
    critic = StackedNetwork([nets[0].critic])
    x = torch.randn(1, N, *shape)
    torch.testing.assert_close(critic(x)[0], alone[0].critic(x[0]), rtol=0, atol=0)


def test_a_parametrization_other_than_spectral_norm_is_computed_per_point():
    from torch.nn.utils.parametrizations import weight_norm

    from gansweep.model.pointwise import PointwiseNetwork

    nets, alone, shape = points("mlp")
    for net, ref in zip(nets, alone, strict=True):
        weight_norm(net.critic.out)
        weight_norm(ref.critic.out)
    critic = StackedNetwork([n.critic for n in nets])
    assert isinstance(critic, PointwiseNetwork)
    x = torch.randn(K, N, *shape)
    out = critic(x)
    for i, ref in enumerate(alone):
        torch.testing.assert_close(out[i], ref.critic(x[i]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("arch, batched", [("mlp", True), ("gan_toy", True), ("dcgan", False), ("resnet", False)])
def test_toy_mlps_take_one_batched_matmul_per_layer_and_other_networks_vmap(arch, batched):
    """gansweep.model.batched: the equality tests above cover both routes."""
    nets, _, _ = points(arch)
    for network in (StackedNetwork([n.generator for n in nets]), StackedNetwork([n.critic for n in nets])):
        assert (network._batched is not None) == batched
