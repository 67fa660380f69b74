"""The stacked optimizer (gansweep.model.stacked_optim) equals each point's stock optimizer alone (float64): Adam and
AdamW in one pass with per-point lr, betas, eps and weight decay, any other optimizer through each point's gradient
slice; a point out of training keeps its parameters and state; the state_dict is the stock per-group format and
loads back onto the stacked state."""

import copy

import pytest
import torch
from torch import nn

from gansweep.model.point_state import point_optimizer_state
from gansweep.model.stacked import StackedNetwork

K = 3
HYPER = [  # per point: lr, betas, eps, weight decay
    dict(lr=1e-3, betas=(0.5, 0.9), eps=1e-8, weight_decay=0.0),
    dict(lr=5e-3, betas=(0.0, 0.99), eps=1e-6, weight_decay=0.1),
    dict(lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
]


pytestmark = pytest.mark.usefixtures("default_float64")


def nets():
    torch.manual_seed(0)
    return [nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)) for _ in range(K)]


def optimizer(cls, params_per_point, **extra):
    """One group per point with its own hyperparameters (RMSprop takes no betas)."""
    hyper = [{k: v for k, v in h.items() if k != "betas" or cls is not torch.optim.RMSprop} for h in HYPER]
    return cls([dict(params=list(p), **hyper[k], **extra) for k, p in enumerate(params_per_point)])


def train(cls, steps, active=lambda: range(K), **extra):
    """(stacked network and its optimizer, the K networks alone and theirs) after `steps` steps on one loss; point k's
    stock optimizer has its group k (the others empty), so that its state_dict numbers groups alike."""
    points, alone = nets(), nets()
    stacked = StackedNetwork(points)
    fused = stacked.fused_optimizer(optimizer(cls, [p.parameters() for p in points], **extra), active)
    stock = [optimizer(cls, [[]] * k + [net.parameters()] + [[]] * (K - k - 1), **extra) for k, net in enumerate(alone)]
    torch.manual_seed(1)
    for _ in range(steps):
        x = torch.randn(K, 7, 3)
        fused.zero_grad()
        stacked(x).pow(2).sum().backward()
        fused.step()
        for k in active():
            stock[k].zero_grad()
            alone[k](x[k]).pow(2).sum().backward()
            stock[k].step()
    return (stacked, fused, points), (alone, stock)


def assert_points_equal(points, alone, atol=1e-12):
    for net, ref in zip(points, alone, strict=True):
        for p, q in zip(net.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=atol)


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW])
def test_one_pass_adam_equals_each_points_stock_adam(cls):
    (_, fused, points), (alone, stock) = train(cls, steps=5)
    assert fused.fused
    assert_points_equal(points, alone)
    for k in range(K):  # each point's state, in the stock format of its own optimizer
        mine = point_optimizer_state(fused.state_dict(), k)
        theirs = point_optimizer_state(stock[k].state_dict(), k)
        assert mine["param_groups"] == theirs["param_groups"]
        for i, entry in theirs["state"].items():
            for key, value in entry.items():
                torch.testing.assert_close(mine["state"][i][key], value, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls, extra", [(torch.optim.RMSprop, {}), (torch.optim.Adam, {"amsgrad": True})])
def test_other_optimizers_step_each_points_gradient_slice(cls, extra):
    (_, fused, points), (alone, _) = train(cls, steps=4, **extra)
    assert not fused.fused
    assert_points_equal(points, alone)


def test_a_point_out_of_training_keeps_its_parameters_and_state():
    (stacked, fused, points), _ = train(torch.optim.Adam, steps=2)
    before = [[p.detach().clone() for p in net.parameters()] for net in points]
    state = copy.deepcopy(point_optimizer_state(fused.state_dict(), 1))
    fused.active = lambda: [0, 2]
    fused.zero_grad()
    stacked(torch.randn(K, 7, 3)).pow(2).sum().backward()  # point 1's slice gets a gradient: the step leaves it
    fused.step()
    for k, net in enumerate(points):
        changed = [not torch.equal(p, q) for p, q in zip(net.parameters(), before[k], strict=True)]
        assert all(changed) if k != 1 else not any(changed)
    after = point_optimizer_state(fused.state_dict(), 1)
    for i, entry in state["state"].items():
        for key, value in entry.items():
            torch.testing.assert_close(after["state"][i][key], value, rtol=0, atol=0)


def test_the_state_dict_loads_back_onto_the_stacked_state():
    (stacked, fused, points), (alone, stock) = train(torch.optim.Adam, steps=3)
    saved = copy.deepcopy(fused.state_dict())
    (stacked2, fused2, points2), _ = train(torch.optim.Adam, steps=0)
    for net, ref in zip(points2, points, strict=True):
        net.load_state_dict(ref.state_dict())
    fused2.load_state_dict(saved)
    torch.manual_seed(5)
    x = torch.randn(K, 7, 3)
    for network, opt in ((stacked, fused), (stacked2, fused2)):
        opt.zero_grad()
        network(x).pow(2).sum().backward()
        opt.step()
    assert_points_equal(points2, points, atol=0)
