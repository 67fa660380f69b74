"""Steps that call torch directly where nobody listens to Lightning's step hooks (gansweep.model.lean): the same
weights and Lightning's step count as through Lightning's wrappers; every listener (a point's callback, a fit's
callback, the module) keeps the hooks; a loss-scaling precision plugin keeps Lightning's path."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import pytorch_lightning as pl
import torch

from gansweep.model.lean import lean_applies, listened
from gansweep.model.module import GANModule
from gansweep.run.build import build_point
from tests.conftest import compose_config
from tests.helpers import fit_points

ITERS, N_CRITIC = 3, 2


class StepHooks(pl.Callback):
    """Counts the step hooks it gets."""

    def __init__(self) -> None:
        self.counts: Dict[str, int] = {"backward": 0, "after": 0, "optimizer": 0}

    def on_before_backward(self, trainer: Any, module: Any, loss: Any) -> None:
        self.counts["backward"] += 1

    def on_after_backward(self, trainer: Any, module: Any) -> None:
        self.counts["after"] += 1

    def on_before_optimizer_step(self, trainer: Any, module: Any, optimizer: Any) -> None:
        self.counts["optimizer"] += 1


def fit(seeds: List[int], callbacks: List[List[pl.Callback]]) -> GANModule:
    points = []
    for seed in seeds:
        data, loss, point = build_point(compose_config(["arch.hidden=8", f"seed={seed}", "train.n_critic=2"]))
        points.append((data, point))
    return fit_points(points, loss, ITERS, batch_size=16, n_critic=N_CRITIC, callbacks=callbacks)


def weights(module: GANModule) -> List[torch.Tensor]:
    return [
        t.detach().clone()
        for p in module.stack.points
        for net in (p.networks.generator, p.networks.critic)
        for t in net.state_dict().values()
    ]


@pytest.mark.parametrize("seeds", [[0], [0, 1]], ids=["alone", "fused"])
def test_lean_steps_give_the_weights_and_step_count_of_lightnings_path(seeds):
    lean = fit(seeds, [[] for _ in seeds])
    hooks = StepHooks()
    listened_to = fit(seeds, [[hooks]] + [[] for _ in seeds[1:]])
    assert lean.lean is True and listened_to.lean is False
    for a, b in zip(weights(lean), weights(listened_to), strict=True):
        assert torch.equal(a, b)
    steps = ITERS * (N_CRITIC + 1)
    assert lean.trainer.global_step == listened_to.trainer.global_step == steps
    assert hooks.counts == {"backward": steps, "after": steps, "optimizer": steps}


class _Fit:
    def __init__(self, callbacks: List[Any]) -> None:
        self.callbacks = callbacks


class Forwarding(pl.Callback):
    def __init__(self, hooks: List[str]) -> None:
        self.hooks = hooks

    def listens(self, hook: str) -> bool:
        return hook in self.hooks


class AfterBackward(GANModule):
    def on_after_backward(self) -> None:
        pass


def test_any_listener_keeps_the_hooks():
    data, loss, point = build_point(compose_config(["arch.hidden=8"]))
    module = GANModule(point, loss)
    assert not listened(_Fit([pl.Callback()]), module, "on_before_backward")
    assert listened(_Fit([StepHooks()]), module, "on_before_optimizer_step")
    assert listened(_Fit([Forwarding(["on_after_backward"])]), module, "on_after_backward")
    assert not listened(_Fit([Forwarding([])]), module, "on_after_backward")  # its own word, not its class's
    assert listened(_Fit([]), AfterBackward(point, loss), "on_after_backward")


@pytest.mark.parametrize(("precision", "lean"), [("32-true", True), ("64-true", True), ("bf16-mixed", False)])
def test_a_precision_plugin_that_changes_a_backward_keeps_lightnings_path(precision, lean):
    data, loss, point = build_point(compose_config(["arch.hidden=8"]))
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False, enable_progress_bar=False)
    assert lean_applies(trainer, GANModule(point, loss)) is lean
