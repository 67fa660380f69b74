"""The model's parts on their own: the views satisfy the protocols callbacks are typed against, health owns each
point's status, a point routed out of the stack neither trains nor changes the others, and isolation finds the
point whose own values make a step raise."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from gansweep.losses.wgan import WGANLoss
from gansweep.model.health import Health
from gansweep.model.isolation import Isolation
from gansweep.model.module import GANModule
from gansweep.model.points import GANPoint
from gansweep.model.stack import GANStack, StackedNetwork
from gansweep.model.view import PointView, RunClock, RunView
from gansweep.models.mlp import build_mlp
from gansweep.noise import PointNoise

ADAM = partial(torch.optim.Adam, lr=1e-4)


def points(k: int) -> list:
    torch.manual_seed(0)
    return [GANPoint(build_mlp((2,), z_dim=2, hidden=8), [], (ADAM, ADAM), seed=s) for s in range(k)]


def test_the_module_is_a_run_clock_and_each_view_a_run_view():
    module = GANModule(points(3), WGANLoss())
    assert isinstance(module, RunClock) and not isinstance(module, RunView)
    views = [PointView(module, k) for k in range(3)]
    assert all(isinstance(view, RunView) for view in views)
    assert [view.generator for view in views] == [p.networks.generator for p in module.stack.points]
    assert views[1].state_dict().keys() == {f"generator.{k}" for k in views[1].generator.state_dict()} | {
        f"critic.{k}" for k in views[1].critic.state_dict()
    }


def test_health_reads_each_points_first_non_finite_iteration_and_settles_the_rest():
    health = Health(3)
    health.watch(torch.tensor([[0.0, 1.0, 2.0]]), g_iters=1)
    health.watch(torch.tensor([[0.0, float("nan"), 2.0]]), g_iters=2)
    health.watch(torch.tensor([[0.0, float("nan"), float("inf")]]), g_iters=3)
    assert health.read(g_iters=4) == [1, 2]  # read at 4: diverged at their first non-finite iteration
    assert [(p.status, p.ended_at, p.diverged_at) for p in health.points[1:]] == [
        ("diverged", 4, 2),
        ("diverged", 4, 3),
    ]
    health.settle("interrupted", at=5)
    assert health.points[0].record_fields() == {"status": "interrupted", "g_iters": 5}
    assert health.points[1].record_fields() == {"status": "diverged", "g_iters": 4, "diverged_at": 2}


def test_a_point_routed_out_neither_trains_nor_changes_the_others():
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)) for _ in range(3)]
    stack = StackedNetwork(nets)
    x = torch.randn(3, 16, 3)
    before = stack(x).detach()
    stack.route = [0, 1, 0]  # point 2's slot computes with point 0's tensors, detached
    stats = nets[2][1].running_mean.clone()
    out = stack(x)
    out.sum().backward()
    assert torch.equal(out[:2].detach(), before[:2])  # the others compute exactly what they did beside it
    assert torch.allclose(out[2].detach(), nets[0](x[2]).detach(), atol=1e-6)  # its slot: point 0's network
    routed_out, trained = stack.point_grads(2)["0.weight"], stack.point_grads(0)["0.weight"]
    assert not routed_out.any() and trained.any()  # no gradient reaches it
    assert torch.equal(nets[2][1].running_mean, stats)  # its batch-norm statistics are not written back


def test_isolation_fails_the_point_whose_own_values_raise_and_computes_the_step_again():
    stack = GANStack(points(3))
    noise = PointNoise([0, 1, 2], fused=True)
    noise.begin(0, torch.device("cpu"), torch.float32, normal=12)
    failed: dict = {}

    def on_failed(culprits: dict) -> None:
        failed.update(culprits)
        for k, (error, trace) in culprits.items():
            stack.health.fail(k, error, trace, at=0)  # its slot leaves the batched computation

    with torch.no_grad():
        stack.points[1].networks.critic.out.bias.fill_(1e9)  # its scores with it

    def compute() -> dict:
        z = noise.randn((3, 4, 2), torch.float32)
        scores = stack.critic(stack.generator(z))
        if bool((scores.abs() > 1e6).any()):
            raise FloatingPointError("scores out of range")
        return {"z": z, "scores": scores.detach()}

    first_z = noise.randn((3, 4, 2), torch.float32)
    noise.begin(0, torch.device("cpu"), torch.float32, normal=12)
    logs = Isolation(stack, noise, on_failed)(compute)
    assert list(failed) == [1] and isinstance(failed[1][0], FloatingPointError)
    assert stack.training_points == [0, 2] and torch.equal(logs["z"], first_z)  # the same noise, drawn again


def test_an_error_no_single_point_raises_is_the_groups():
    stack = GANStack(points(2))
    noise = PointNoise([0, 1], fused=True)
    noise.begin(0, torch.device("cpu"), torch.float32)
    calls = []

    def compute() -> dict:
        calls.append(list(stack.critic.route))
        if stack.critic.route == [0, 1]:  # only the two together raise
            raise MemoryError("out of memory")
        return {}

    with pytest.raises(MemoryError):
        Isolation(stack, noise, lambda culprits: pytest.fail("no point is to blame"))(compute)
    assert calls == [[0, 1], [0, 0], [1, 1]]  # the group's step, then each point alone
