"""A fused group's freed slot taking a new trial mid-fit (gansweep.model.refill, gansweep.callbacks.refill): a member
pruned at a rung boundary leaves its slot to a new point, which trains exactly as that point trains alone (its own
initial state, hyperparameters, optimizer state, EMA, noise and data, its own iteration count and curves), while
the group's other points train exactly as in the group without the pruning (float64, CPU)."""

from __future__ import annotations

from functools import partial
from typing import Any, List, Optional, Sequence, Tuple

import pytest
import pytorch_lightning as pl
import torch

from gansweep.model.point_state import point_training_state
from gansweep.run.fit import FitPoint
from tests.helpers import fit_points
from tests.test_adaptive import PruneAt
from tests.test_fused_training import TOY, Built, Capture, built, point_state

GRID = [("1e-4", "0.1", 0), ("1e-4", "10", 1), ("5e-4", "0.1", 1), ("5e-4", "10", 2)]  # lr, lambda, seed
EMA_CLIP = [("0.01", "[0.5,0.9]", "0.99", 0), ("0.05", "[0.0,0.9]", "0.9", 1), ("0.02", "[0.5,0.999]", "0.999", 2)]


class Source:
    """Gives freed slots the listed points, in order, at multiples of `every`."""

    def __init__(self, every: int, new: Sequence[FitPoint]) -> None:
        self.every, self.new = every, list(new)
        self.ends: List[Tuple[int, str, int]] = []  # (slot, status, its own generator iterations)
        self.given: List[int] = []
        self.states: List[Any] = []  # each ended point's networks, as it ended
        self.failures: List[Tuple[int, str]] = []

    def ended(self, k: int, run: Any) -> None:
        self.ends.append((k, run.status, run.view.g_iters))
        self.states.append(run.view.state_dict())

    def failed(self, k: int, error: BaseException) -> None:
        self.failures.append((k, str(error)))

    def next(self, k: int, at: int) -> Optional[FitPoint]:
        if not self.new:
            return None
        self.given.append(k)
        return self.new.pop(0)


class NaNCritic(pl.Callback):
    """Before its own generator iteration `at`, the point's critic weights become NaN (its losses with them)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer: Any, module: Any, *args: Any) -> None:
        if module.g_iters + 1 == self.at:
            with torch.no_grad():
                for parameter in module.critic.parameters():
                    parameter.fill_(float("nan"))


class Hooks(pl.Callback):
    """Counts the lifecycle hooks its point gets."""

    NAMES = ("setup", "on_fit_start", "on_train_start", "on_train_end", "on_fit_end", "teardown")

    def __init__(self) -> None:
        self.calls: dict = {}
        for name in self.NAMES:
            setattr(self, name, partial(self._count, name))

    def _count(self, name: str, *args: Any) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


def gp_points() -> List[Built]:
    return [built([*TOY, f"optim.lr={lr}", f"constraint.gp.weight={w}", f"seed={s}"]) for lr, w, s in GRID]


def ema_clip_points() -> List[Built]:
    return [
        built([*TOY, "constraint=clip", f"constraint.clip.clip={c}", f"optim.betas={b}", f"train.ema={e}", f"seed={s}"])
        for c, b, e, s in EMA_CLIP
    ]


def train(
    points: Sequence[Built], iters: int, callbacks: Any = (), refill: Any = None, decay: str = "none"
) -> Tuple[Any, List[Capture]]:
    logs = [Capture() for _ in points]
    module = fit_points(
        [(p[0], p[2]) for p in points],
        points[0][1],
        iters,
        32,
        2,
        callbacks=[list(c) for c in callbacks] if callbacks else [],
        loggers=[[log] for log in logs],
        precision="64-true",
        refill=refill,
        decay=decay,
    )
    return module, logs


def new_point(b: Built, log: Capture) -> FitPoint:
    return FitPoint(b[2], b[0], [], [log])


def training_state(module: Any, k: int) -> Any:
    """Point k's optimizer and scheduler states as its checkpoint holds them."""
    schedulers = [config.scheduler for config in module.trainer.lr_scheduler_configs]
    return point_training_state(module.trainer.optimizers, schedulers, k, module.n_points)


def same(a: Any, b: Any, atol: float = 0.0) -> None:
    sa, sb = point_state(a), point_state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sb[key], sa[key], atol=atol, rtol=0, msg=lambda m, key=key: f"{key}: {m}")


@pytest.mark.parametrize(
    "make, decay",
    [(gp_points, "none"), (ema_clip_points, "none"), (gp_points, "linear")],
    ids=["gp", "ema-clip-betas", "gp-linear-decay"],
)
def test_a_pruned_members_slot_takes_a_new_trial_that_trains_as_alone_and_the_others_are_untouched(
    make: Any, decay: str
):
    iters, every = 8, 4
    clean, clean_logs = train(make()[:2], iters, decay=decay)
    extra = make()[2]
    extra_log, pruned_hooks, new_hooks = Capture(), Hooks(), Hooks()
    source = Source(every, [FitPoint(extra[2], extra[0], [new_hooks], [extra_log])])
    callbacks = [[], [PruneAt(every), pruned_hooks]]
    module, logs = train(make()[:2], iters, callbacks=callbacks, refill=source, decay=decay)
    assert pruned_hooks.calls == new_hooks.calls == {name: 1 for name in Hooks.NAMES}  # each once, as a fit alone
    assert source.ends[0] == (1, "pruned", every) and source.given == [1]
    assert [(p.status, p.ended_at) for p in module.health.points] == [("ok", iters), ("ok", iters)]
    assert module.g_iters == every + iters  # the group ran on for the new point's budget
    same(clean.stack.points[0], module.stack.points[0])  # the survivor: bit-identical to the group without pruning
    assert logs[0].rows == clean_logs[0].rows
    alone, alone_logs = train([make()[2]], iters, decay=decay)  # the new point: as alone, its own counts and curves
    same(alone.stack.points[0], module.stack.points[1], atol=1e-10)
    own, alone_own = (training_state(m, k) for m, k in ((module, 1), (alone, 0)))  # its checkpoint's, as alone
    assert own["lr_schedulers"] == alone_own["lr_schedulers"]
    assert len(own["lr_schedulers"]) == (2 if decay == "linear" else 0)
    if alone.stack.averages:
        ema_alone, ema_new = alone.stack.averages[0].state_dict(), module.stack.averages[1].state_dict()
        for key in ema_alone:
            torch.testing.assert_close(ema_new[key], ema_alone[key], atol=1e-10, rtol=0)
    assert [step for step, _ in extra_log.rows] == [step for step, _ in alone_logs[0].rows] == list(range(1, iters + 1))
    for (_, got), (_, want) in zip(extra_log.rows, alone_logs[0].rows, strict=True):
        assert got == pytest.approx(want, abs=1e-10)


def test_slots_are_refilled_only_at_rung_boundaries_and_not_once_the_source_is_done():
    iters = 8
    points = gp_points()
    source = Source(4, [new_point(points[2], Capture())])
    # slot 1 pruned at 2 (not a boundary) waits for 4; at 4 slot 0 is pruned too: slot 0 takes the one new point,
    # slot 1 stays free (the source is done)
    module, _ = train(points[:2], iters, callbacks=[[PruneAt(4)], [PruneAt(2)]], refill=source)
    assert source.given == [0]
    assert source.ends == [(0, "pruned", 4), (1, "pruned", 2)]
    assert [(p.status, p.ended_at) for p in module.health.points] == [("ok", iters), ("pruned", 2)]
    assert module.g_iters == 4 + iters


def test_runs_over_at_a_boundary_the_source_runs_dry_at_end_there_and_train_no_further():
    iters = 4
    points = gp_points()
    source = Source(4, [new_point(points[3], Capture())])
    # all three end at 4; slot 0 takes the one new point, and slots 1 and 2 end at 4 although the group goes on
    module, _ = train(points[:3], iters, refill=source)
    assert source.given == [0] and [k for k, _, _ in source.ends] == [0, 1, 2]
    assert [(p.status, p.ended_at) for p in module.health.points] == [("ok", iters)] * 3
    assert [own for _, _, own in source.ends] == [iters] * 3
    assert module.g_iters == 2 * iters


def test_a_poisoned_new_point_diverges_alone_and_its_slot_is_refilled_again():
    """A new point whose critic turns NaN diverges at its own first read and is recorded so; the survivor trains
    as in the group without either; at the next boundary a healthy point takes a freed slot and trains as alone."""
    iters, every = 8, 4
    clean, _ = train(gp_points()[:2], iters)
    poisoned = FitPoint(gp_points()[2][2], gp_points()[2][0], [NaNCritic(1)], [Capture()])
    healthy, healthy_log = gp_points()[3], Capture()
    source = Source(every, [poisoned, new_point(healthy, healthy_log)])
    module, _ = train(gp_points()[:2], iters, callbacks=[[], [PruneAt(every)]], refill=source)
    assert source.ends == [(1, "pruned", every), (0, "ok", iters), (1, "diverged", 1)]  # own counts
    assert source.given == [1, 0]  # the poisoned one in slot 1 at 4; at 8 the healthy one in slot 0 (freed first)
    finished = source.states[1]  # slot 0's first point as it finished: as in the group without the others
    assert all(finished[key].equal(value) for key, value in point_state(clean.stack.points[0]).items())
    alone, alone_logs = train([gp_points()[3]], iters)
    same(alone.stack.points[0], module.stack.points[0], atol=1e-10)
    assert [step for step, _ in healthy_log.rows] == [step for step, _ in alone_logs[0].rows]


def test_a_new_point_that_cannot_start_fails_alone_and_leaves_its_slot_free():
    """A new point whose optimizer cannot be made (lr < 0: torch refuses it) fails before the slot is touched; the
    group goes on untouched and the slot stays free."""
    iters, every = 8, 4
    clean, clean_logs = train(gp_points()[:2], iters)
    broken = gp_points()[2][2]
    broken.optimizers = tuple(partial(f.func, *f.args, **{**f.keywords, "lr": -1.0}) for f in broken.optimizers)
    source = Source(every, [FitPoint(broken, gp_points()[2][0], [], [Capture()])])
    module, logs = train(gp_points()[:2], iters, callbacks=[[], [PruneAt(every)]], refill=source)
    assert source.failures and source.failures[0][0] == 1 and "learning rate" in source.failures[0][1]
    assert [(p.status, p.ended_at) for p in module.health.points] == [("ok", iters), ("pruned", every)]
    same(clean.stack.points[0], module.stack.points[0])
    assert logs[0].rows == clean_logs[0].rows
