"""Trials that fit a fused group (gansweep.search.fitting): a study that varies a value a group cannot fuse (the
objective, a width) asks a group's further trials, and a refilled slot's, with the group's value of it: the grid
sampler an unvisited grid point with that value, counted visited as its own choices are (no grid point twice, none
left out), the other samplers through Optuna's PartialFixedSampler."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import optuna
import pytest

from gansweep.search.budget import StopRule
from gansweep.search.fitting import ask_fitting, fixed_values, group_keys
from gansweep.search.samplers import make_sampler
from gansweep.search.space import parse_space
from gansweep.search.study import tell

GRID = {"loss": "wgan,hinge", "optim.lr": "1e-4,1e-3,1e-2"}  # loss: not fusible; lr: fusible


def grid_study(params: Dict[str, str] = GRID) -> Any:
    space = parse_space(params)
    return optuna.create_study(sampler=make_sampler("grid", space, seed=0)), space


def key(trial: Any) -> tuple:
    return tuple(sorted(trial.params.items()))


def test_a_trials_fixed_values_are_those_a_fused_group_cannot_vary():
    params = {"loss": "hinge", "arch.hidden": 64, "optim.lr": 1e-3, "seed": 2, "constraint.gp.weight": 10.0}
    swept_all = {"loss": "wgan,hinge", "arch.hidden": "32,64", "optim.lr": "1e-4,1e-3", "seed": "1,2"}
    space = parse_space({**swept_all, "constraint.gp.weight": "1,10"})
    assert fixed_values(params, space) == {"loss": "hinge", "arch.hidden": 64}
    clip = {"+constraint.clip.clip": 0.01, "optim.lr_critic": 2e-4, "train.ema": 0.999}
    swept = {"+constraint.clip.clip": "0.01,0.05", "optim.lr_critic": "1e-4,2e-4"}
    assert fixed_values(clip, parse_space({**swept, "train.ema": "0.99,0.999"})) == {}
    # a group keeps EMA for all its points or none: where the space can turn it off, its value is the group's
    assert fixed_values(clip, parse_space({**swept, "train.ema": "null,0.999"})) == {"train.ema": 0.999}
    assert group_keys(space) == ["loss", "arch.hidden"] and group_keys(parse_space(swept)) == []


def test_the_grid_gives_unvisited_points_with_the_fixed_value_then_none_and_counts_them_visited():
    study, space = grid_study()
    hinge = [ask_fitting(study, space, {"loss": "hinge"}) for _ in range(3)]
    assert all(t.params["loss"] == "hinge" for t in hinge)
    assert len({key(t) for t in hinge}) == 3  # each hinge point once
    assert ask_fitting(study, space, {"loss": "hinge"}) is None  # none left with that value
    rest = [ask_fitting(study, space, {}) for _ in range(3)]  # the study's own choices skip the pinned points
    assert {t.params["loss"] for t in rest} == {"wgan"} and len({key(t) for t in rest}) == 3
    for trial in hinge + rest:
        tell(study, trial, 1.0)
    assert isinstance(study.sampler, optuna.samplers.GridSampler)  # the study's sampler, restored after each ask
    assert study.sampler._get_unvisited_grid_ids(study) == []  # the whole grid visited, each point once
    assert sorted(t.system_attrs["grid_id"] for t in study.trials) == list(range(6))


def test_a_running_or_failed_grid_point_is_not_given_again():
    study, space = grid_study()
    running = ask_fitting(study, space, {"loss": "wgan"})
    failed = ask_fitting(study, space, {"loss": "wgan"})
    tell(study, failed, state=optuna.trial.TrialState.FAIL)
    last = ask_fitting(study, space, {"loss": "wgan"})
    assert len({key(running), key(failed), key(last)}) == 3
    assert ask_fitting(study, space, {"loss": "wgan"}) is None
    assert ask_fitting(study, space, {"arch.hidden": 64}) is None  # a value the space does not vary cannot be fixed


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_other_samplers_keep_the_fixed_value_and_sample_the_rest(sampler: str):
    space = parse_space({"loss": "wgan,hinge", "optim.lr": "tag(log, interval(1e-5, 1e-2))"})
    study = optuna.create_study(sampler=make_sampler(sampler, space, seed=0))
    trials = [ask_fitting(study, space, {"loss": "hinge"}) for _ in range(6)]
    assert {t.params["loss"] for t in trials} == {"hinge"}
    lrs = [t.params["optim.lr"] for t in trials]
    assert len(set(lrs)) == 6 and all(1e-5 <= lr <= 1e-2 for lr in lrs)
    assert type(study.sampler) is type(make_sampler(sampler, space, seed=0))


def test_the_sweepers_groups_are_asked_to_fit_their_first_trial():
    from gansweep.search.sweeper import _Trials

    study, space = grid_study({"arch.hidden": "16,24,32", "optim.lr": "1e-4,1e-3", "seed": "0,1"})  # 12 points
    trials = _Trials(study, space, StopRule(n_trials=12), lambda t: [f"n={t.number}"], [], lambda t, r: None)
    groups: List[List[Any]] = []
    while True:
        jobs = trials.next_jobs(3)
        if not jobs:
            break
        groups.append([trials.running[num] for num, _ in jobs])
    for group in groups:
        assert len({t.params["arch.hidden"] for t in group}) == 1, [t.params for t in group]
    assert sorted(len(group) for group in groups) == [1, 1, 1, 3, 3, 3]  # 4 points per width: a full group, then 1
    assert Counter(key(t) for group in groups for t in group).most_common(1)[0][1] == 1  # each grid point once
    assert len(study.trials) == 12


def test_a_study_workers_claim_fits_its_first_trial(tmp_path: Path):
    from gansweep.search.settings import SearchSettings
    from gansweep.search.workers import WorkerPlan, claim

    study, space = grid_study({"loss": "wgan,hinge", "constraint.gp.weight": "0.1,1,10"})
    settings = SearchSettings(sampler="grid", pruner="none", metric="energy_distance", n_trials=6, seed=0)
    plan = WorkerPlan("unused", "unused", settings, space, StopRule(n_trials=6), lambda t: [], str(tmp_path), fuse=2)
    claimed = []
    while True:
        trials = claim(study, plan, "worker", 2)
        if not trials:
            break
        assert len({t.params["loss"] for t in trials}) == 1
        for trial in trials:
            claimed.append(key(trial))
            tell(study, trial, 1.0)
    assert len(claimed) == len(set(claimed)) == 6


class CachedSpace(optuna.samplers.RandomSampler):
    """A sampler that hands out its one cached relative search space, as Optuna's QMCSampler does."""

    def __init__(self, space: Dict[str, Any]) -> None:
        super().__init__(seed=0)
        self.cached = space

    def infer_relative_search_space(self, study: Any, trial: Any) -> Dict[str, Any]:
        return self.cached


def test_fixing_a_value_leaves_the_samplers_own_search_space_whole():
    space = parse_space({"loss": "wgan,hinge", "optim.lr": "interval(1e-5, 1e-2)"})
    cached = {"loss": optuna.distributions.CategoricalDistribution(["wgan", "hinge"])}
    study = optuna.create_study(sampler=CachedSpace(dict(cached)))
    assert ask_fitting(study, space, {"loss": "hinge"}).params["loss"] == "hinge"
    assert study.sampler.cached == cached  # Optuna's PartialFixedSampler would have deleted "loss" from it


class Bound:
    """BoundRefill's side of GroupRefill.next: a new point per call, while it has any."""

    def __init__(self, points: int) -> None:
        self.points, self.asked = points, []

    def next_point(self, fixed: Dict[str, Any]) -> Any:
        self.asked.append(fixed)
        if not self.points:
            return None
        self.points -= 1
        return (SimpleNamespace(record={}), object())


@pytest.mark.parametrize("turns, taken", [(None, 5), (2, 2)])
def test_a_group_takes_new_trials_while_the_study_has_them_or_as_many_as_its_turns(turns: Any, taken: int):
    from gansweep.search.refill import GroupRefill

    bound = Bound(points=5)
    group = GroupRefill(bound, [(None, None), (None, None)], 10, {"loss": "hinge"}, turns)  # type: ignore[arg-type]
    started = [group.next(k % 2, 10 * (k + 1)) for k in range(7)]
    assert sum(point is not None for point in started) == taken and all(f == {"loss": "hinge"} for f in bound.asked)
    assert started[taken:] == [None] * (7 - taken)
