"""A point's callbacks get the hooks its run alone gets, in a single run and in a group: Lightning's end hooks when
the fit ends with it, on_train_end at once when it ends while others go on, on_exception when it fails; isolation's
probes fire no training hooks; a point's trainer answers the fit's settings (max_epochs)."""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import pytest
import pytorch_lightning as pl

from gansweep.model.module import GANModule
from gansweep.run.build import build_point
from tests.conftest import compose_config
from tests.helpers import BlowUp, BoundedWGAN, fit_points

ITERS = 4


class HookLog(pl.Callback):
    """Records (hook, g_iters) for the observed hooks and counts backward hooks per iteration; `stop_at` sets
    trainer.should_stop, `raise_at` raises, both at the end of that generator iteration."""

    def __init__(self, stop_at: int = 0, raise_at: int = 0) -> None:
        self.stop_at, self.raise_at = stop_at, raise_at
        self.seen: List[Tuple[str, int]] = []
        self.backward: List[int] = []
        self.max_epochs: Any = None

    def on_fit_start(self, trainer: Any, module: Any) -> None:
        self.max_epochs = trainer.max_epochs  # a Trainer setting, the fit's

    def on_before_backward(self, trainer: Any, module: Any, loss: Any) -> None:
        self.backward.append(module.g_iters)

    def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
        self.seen.append(("on_train_batch_end", module.g_iters))
        if module.g_iters == self.stop_at:
            trainer.should_stop = True
        if module.g_iters == self.raise_at:
            raise RuntimeError("a callback failed")

    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
        self.seen.append(("on_train_epoch_end", module.g_iters))

    def on_train_end(self, trainer: Any, module: Any) -> None:
        self.seen.append(("on_train_end", module.g_iters))

    def on_exception(self, trainer: Any, module: Any, exception: BaseException) -> None:
        self.seen.append(("on_exception", module.g_iters))

    def on_fit_end(self, trainer: Any, module: Any) -> None:
        self.seen.append(("on_fit_end", module.g_iters))


def fit(logs: Sequence[HookLog], loss: Any = None, callbacks: Sequence[Sequence[pl.Callback]] = ()) -> GANModule:
    points = []
    for seed in range(len(logs)):
        data, default_loss, point = build_point(compose_config(["arch.hidden=8", f"seed={seed}"]))
        points.append((data, point))
    extra = list(callbacks) or [[] for _ in logs]
    return fit_points(
        points,
        loss or default_loss,
        ITERS,
        batch_size=16,
        callbacks=[[log, *more] for log, more in zip(logs, extra, strict=True)],
    )


def tail(log: HookLog) -> List[Tuple[str, int]]:
    return [seen for seen in log.seen if seen[0] != "on_train_batch_end" or seen[1] >= 2]


def test_a_single_run_stopped_by_its_callback_ends_as_lightning_ends_a_fit():
    log = HookLog(stop_at=2)
    module = fit([log])
    assert tail(log) == [("on_train_batch_end", 2), ("on_train_epoch_end", 2), ("on_train_end", 2), ("on_fit_end", 2)]
    assert (module.health.points[0].status, module.health.points[0].ended_at) == ("ok", 2)
    assert log.max_epochs == 1


def test_a_point_stopped_while_another_goes_on_ends_at_once_and_the_other_trains_on():
    stopped, going = HookLog(stop_at=2), HookLog()
    module = fit([stopped, going])
    assert tail(stopped) == [("on_train_batch_end", 2), ("on_train_end", 2), ("on_fit_end", 2)]
    assert [(p.status, p.ended_at) for p in module.health.points] == [("ok", 2), ("ok", ITERS)]
    assert tail(going)[-4:] == [
        ("on_train_batch_end", ITERS),
        ("on_train_epoch_end", ITERS),
        ("on_train_end", ITERS),
        ("on_fit_end", ITERS),
    ]


@pytest.mark.parametrize("points", [1, 2])
def test_a_point_whose_callback_raises_gets_on_exception_and_nothing_after(points):
    logs = [HookLog(raise_at=2)] + [HookLog() for _ in range(points - 1)]
    module = fit(logs)
    assert tail(logs[0]) == [("on_train_batch_end", 2), ("on_exception", 2)]
    assert (module.health.points[0].status, module.health.points[0].ended_at) == ("failed", 2)
    assert [p.status for p in module.health.points[1:]] == ["ok"] * (points - 1)


def test_isolation_fires_no_extra_hooks_and_the_failed_point_gets_its_error():
    """Point 1's loss raises in the group's step at iteration 3: the probes and the step computed again fire no
    backward hooks of their own, and point 1 gets on_exception with its error instead of that iteration's hooks."""
    logs = [HookLog(), HookLog(), HookLog()]
    module = fit(logs, BoundedWGAN(), callbacks=[[], [BlowUp(at=3)], []])
    assert [(p.status, p.ended_at) for p in module.health.points] == [("ok", ITERS), ("failed", 2), ("ok", ITERS)]
    for log in (logs[0], logs[2]):  # each critic and generator step backpropagates once, as in a clean group
        assert [log.backward.count(i) for i in range(ITERS)] == [log.backward.count(0)] * ITERS
    assert tail(logs[1]) == [("on_train_batch_end", 2), ("on_exception", 2)]
