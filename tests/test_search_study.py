"""An adaptive sweep's Optuna study (gansweep/search/): samplers and pruners by name, ASHA's decisions on hand-made
metric sequences, a study resumed from its file in the sweep folder, and the budget that stops it."""

from __future__ import annotations

import pytest

from gansweep.search.settings import SearchError, SearchSettings
from gansweep.search.space import parse_space

optuna = pytest.importorskip("optuna")

from gansweep.search.budget import (  # noqa: E402  (these need optuna)
    ITERS_ATTR,
    StopRule,
    grid_iters,
    iters_spent,
    spending,
    stop_rule,
)
from gansweep.search.compat import database_blocker  # noqa: E402
from gansweep.search.distributions import distributions  # noqa: E402
from gansweep.search.pruners import make_pruner  # noqa: E402
from gansweep.search.samplers import make_sampler  # noqa: E402
from gansweep.search.storage import JOURNAL_FILE, SQLITE_FILE, journal_backend  # noqa: E402
from gansweep.search.study import open_study, reopen, tell  # noqa: E402

GRID = parse_space({"constraint.gp.weight": "0.1,1,10", "optim.lr": "1e-4,2e-4,5e-4"})
SEARCH = parse_space({"seed": "0,1"}, ["optim.lr=tag(log,interval(1e-5,1e-3))"])
PRUNED = optuna.trial.TrialState.PRUNED
BLOCKED = database_blocker()  # optuna < 3.1 under SQLAlchemy 2 writes no database
FILE_STORAGE = journal_backend() is not None or BLOCKED is None


def test_samplers_by_name_with_the_default_by_space():
    samplers = optuna.samplers
    assert isinstance(make_sampler(None, GRID), samplers.GridSampler)
    assert isinstance(make_sampler(None, SEARCH), samplers.TPESampler)
    assert isinstance(make_sampler("grid", GRID, seed=1), samplers.GridSampler)
    assert isinstance(make_sampler("tpe", GRID, seed=1), samplers.TPESampler)
    assert isinstance(make_sampler("random", SEARCH, seed=1), samplers.RandomSampler)
    if hasattr(samplers, "QMCSampler"):
        assert isinstance(make_sampler("qmc", SEARCH, seed=1), samplers.QMCSampler)
    else:
        with pytest.raises(SearchError, match=r"sampler=qmc needs optuna >= 3\.0 \(installed: 2\."):
            make_sampler("qmc", SEARCH)
    with pytest.raises(SearchError, match="needs a finite grid, and optim.lr is an interval"):
        make_sampler("grid", SEARCH)
    mixed = parse_space({"x": "choice(1,1.5,a)", "y": "0,1"})
    if optuna.__version__.startswith("2."):  # its GridSampler sorts each key's values
        with pytest.raises(SearchError, match=r"^x mixes value types, .* install optuna >= 3\.0$"):
            make_sampler("grid", mixed)
    else:
        assert isinstance(make_sampler("grid", mixed), samplers.GridSampler)


def test_a_wrong_name_fails_in_one_line_listing_the_choices():
    for settings in ({"sampler": "tpee"}, {"pruner": "sha"}, {"direction": "min"}):
        with pytest.raises(SearchError) as error:
            SearchSettings(**settings)
        assert "\n" not in str(error.value) and "choose one of" in str(error.value)
    with pytest.raises(SearchError, match="sampler='tpee' is not an option; choose one of grid, tpe, random, qmc"):
        make_sampler("tpee", GRID)
    with pytest.raises(SearchError, match="choose one of asha, hyperband, median, none"):
        make_pruner("sha", 100, 900)
    with pytest.raises(SearchError, match="reduction_factor=1 must be at least 2"):
        SearchSettings(reduction_factor=1)


def test_pruners_by_name_with_their_rungs_in_generator_iterations():
    pruners = optuna.pruners
    asha = make_pruner("asha", first_eval=300, trial_iters=8100)
    assert isinstance(asha, pruners.SuccessiveHalvingPruner)
    assert (asha._min_resource, asha._reduction_factor, asha._min_early_stopping_rate) == (300, 3, 0)
    hyperband = make_pruner("hyperband", first_eval=300, trial_iters=8100)
    assert isinstance(hyperband, pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (300, 8100, 3)
    median = make_pruner("median", first_eval=300, trial_iters=8100)
    assert isinstance(median, pruners.MedianPruner) and median._n_warmup_steps == 300
    assert isinstance(make_pruner("none", 300, 8100), pruners.NopPruner)
    with pytest.raises(SearchError, match="end before its first evaluation"):
        make_pruner("hyperband", first_eval=300, trial_iters=200)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_asha_stops_the_trials_outside_the_top_third_of_each_rung(direction):
    """Rungs at the first evaluation (100) and every 3x further (300, 900); at a rung, a trial goes on when its value
    is among the best floor(n/3) of the n values that reached that rung so far (itself included), or is the best
    while fewer than 3 have: asynchronous successive halving, decided as each trial arrives."""
    sign = 1.0 if direction == "minimize" else -1.0  # maximising the negated values takes the same decisions
    study = optuna.create_study(direction=direction, pruner=make_pruner("asha", first_eval=100, trial_iters=900))
    trials = [study.ask() for _ in range(7)]

    def prune(number: int, step: int, value: float) -> bool:
        trials[number].report(sign * value, step)
        return trials[number].should_prune()

    # rung 0 (step 100): value -> the values seen there so far -> go on?
    assert not prune(0, 100, 5.0)  # [5]: alone, the best
    assert not prune(1, 100, 4.0)  # [5, 4]: the best of two
    assert prune(2, 100, 6.0)  # [5, 4, 6]: top 1 of 3 is 4
    assert not prune(3, 100, 3.0)  # [.., 3]: top 1 of 4 is 3
    assert prune(4, 100, 4.5)  # 5 values: top 1 is 3
    assert prune(5, 100, 4.2)  # 6 values: top 2 are 3, 4
    assert not prune(6, 100, 3.5)  # 7 values: top 2 are 3, 3.5
    # between rungs nothing is decided, however bad the value
    assert not prune(0, 200, 99.0)
    # rung 1 (step 300), among the trials that got there
    assert not prune(0, 300, 2.0)  # [2]: alone
    assert prune(1, 300, 2.5)  # [2, 2.5]: the best is 2
    assert not prune(3, 300, 1.5)  # [2, 2.5, 1.5]: the best
    assert prune(6, 300, 1.8)  # 4 values: top 1 is 1.5
    # rung 2 (step 900)
    assert not prune(3, 900, 1.0)


def test_the_grid_sampler_runs_every_point_once_and_its_last_tell_passes():
    study = optuna.create_study(sampler=make_sampler(None, GRID))
    points = []
    for _ in range(GRID.grid_size()):
        trial = study.ask(distributions(GRID))
        points.append(tuple(GRID.overrides(trial.params)))
        tell(study, trial, 1.0)  # Optuna 2.10 and 3+ raise here on the last point (study.stop outside optimize)
    assert len(set(points)) == 9 and ("constraint.gp.weight=10", "optim.lr=0.0005") in points
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_a_trial_left_running_is_reopened_on_its_own_grid_point():
    """A continued grid study trains a trial left running on the point it had, and asks the others once each."""
    study = optuna.create_study(sampler=make_sampler(None, GRID, seed=0))
    left = study.ask(distributions(GRID))
    grid_id = study.trials[0].system_attrs["grid_id"]
    for _ in range(3):
        again = reopen(study, left._trial_id)
    assert study.trials[0].system_attrs["grid_id"] == grid_id and again.params == left.params
    points = [tuple(GRID.overrides(again.params))]
    tell(study, again, 1.0)
    for _ in range(GRID.grid_size() - 1):
        trial = study.ask(distributions(GRID))
        points.append(tuple(GRID.overrides(trial.params)))
        tell(study, trial, 1.0)
    assert len(set(points)) == GRID.grid_size() == 9


@pytest.mark.skipif(not FILE_STORAGE, reason=f"{BLOCKED}: see test_a_database_this_optuna_cannot_write_is_refused")
def test_a_study_resumes_from_its_file_in_the_sweep_folder(tmp_path):
    sweep = tmp_path / "multirun" / "10-00-00"
    settings = SearchSettings(seed=0)
    study = open_study(settings, GRID, sweep, first_eval=100, trial_iters=300)
    first, second = study.ask(distributions(GRID)), study.ask(distributions(GRID))
    first.report(0.5, 100)
    tell(study, first, 0.4)
    second.report(0.9, 100)  # the sweep is killed here: trial 1 is left running
    del study

    kept, other = (JOURNAL_FILE, SQLITE_FILE) if journal_backend() else (SQLITE_FILE, JOURNAL_FILE)  # optuna >= 3.1
    assert (sweep / kept).is_file() and not (sweep / other).exists()
    study = open_study(settings, GRID, sweep, first_eval=100, trial_iters=300)
    assert study.study_name == "10-00-00"
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]
    assert study.trials[0].value == 0.4 and study.trials[1].intermediate_values == {100: 0.9}
    assert study.trials[1].params == second.params
    tell(study, 1, state=PRUNED)  # the resumed trial, by its number
    rest = [study.ask(distributions(GRID)).params for _ in range(7)]
    assert len({tuple(sorted(p.items())) for p in [first.params, second.params, *rest]}) == 9  # none run twice
    with pytest.raises(SearchError, match="is to minimize; direction=maximize differs"):
        open_study(SearchSettings(direction="maximize"), GRID, sweep, first_eval=100, trial_iters=300)


@pytest.mark.skipif(BLOCKED is not None, reason=f"{BLOCKED}: see test_a_database_this_optuna_cannot_write_is_refused")
def test_a_storage_url_is_used_as_given(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    study = open_study(SearchSettings(storage=url, study_name="gp"), SEARCH, tmp_path / "sweep", 100, 300)
    assert study.study_name == "gp" and (tmp_path / "shared.db").is_file()
    assert optuna.load_study(study_name="gp", storage=url).direction.name == "MINIMIZE"
    assert not (tmp_path / "sweep" / JOURNAL_FILE).exists()
    with pytest.raises(SearchError, match="is not a storage URL"):
        open_study(SearchSettings(storage="shared.db"), SEARCH, tmp_path / "sweep", 100, 300)


@pytest.mark.skipif(BLOCKED is None, reason="this optuna writes databases")
def test_a_database_this_optuna_cannot_write_is_refused_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with pytest.raises(SearchError, match=r"cannot write a database under SQLAlchemy 2.*; install optuna >= 3\.1"):
        open_study(SearchSettings(storage=url), SEARCH, tmp_path / "sweep", 100, 300)
    if journal_backend() is None:  # nor the default file, SQLite before optuna 3.1
        with pytest.raises(SearchError, match="optuna.db: optuna 2"):
            open_study(SearchSettings(), SEARCH, tmp_path / "sweep", 100, 300)
    assert not (tmp_path / "shared.db").exists()


def finished(study, iters: int, steps, state=None, value=None) -> None:
    """A trial of `iters` generator iterations that reported at `steps` and ended in `state` (complete by default);
    as the sweep does, the iterations its record says it ran (all when complete, else its last report) are set as it
    is told."""
    trial = study.ask()
    for step in steps:
        trial.report(1.0, step)
    if state is not None or value is not None:
        trial.set_user_attr(ITERS_ATTR, iters if state is None else max(steps, default=0))
        tell(study, trial, value, state)


def test_the_study_stops_at_n_trials_or_its_budget_of_generator_iterations():
    study = optuna.create_study()
    finished(study, 900, [300, 900], value=1.0)  # complete: its whole budget, 900
    finished(study, 900, [300], state=PRUNED)  # pruned at its first rung: 300
    finished(study, 900, [], state=optuna.trial.TrialState.FAIL)  # failed before its first evaluation: 0
    finished(study, 900, [300, 600])  # running, at 600
    assert iters_spent(study) == 900 + 300 + 0 + 600
    assert not StopRule(n_trials=5).should_stop(study) and StopRule(n_trials=4).should_stop(study)
    assert not StopRule(budget=1801).should_stop(study) and StopRule(budget=1800).should_stop(study)
    assert StopRule(n_trials=100, budget=1000).should_stop(study) and not StopRule().should_stop(study)


def test_the_stop_rule_of_settings_bounds_every_study():
    assert stop_rule(SearchSettings(), GRID) == StopRule(n_trials=9)  # the grid sampler: every point once
    assert stop_rule(SearchSettings(n_trials=20), GRID) == StopRule(n_trials=9)
    assert stop_rule(SearchSettings(sampler="random", n_trials=20), GRID) == StopRule(n_trials=20)
    assert stop_rule(SearchSettings(budget=5000), SEARCH) == StopRule(budget=5000)
    with pytest.raises(SearchError, match="sampler=tpe searches without end: set n_trials or budget"):
        stop_rule(SearchSettings(), SEARCH)
    with pytest.raises(SearchError, match="sampler=grid needs a finite grid"):
        stop_rule(SearchSettings(sampler="grid", n_trials=5), SEARCH)


def test_generator_iterations_spent_against_the_full_grid():
    study = optuna.create_study()
    finished(study, 900, [300, 900], value=1.0)
    finished(study, 900, [300], state=PRUNED)
    report = spending(study, GRID, trial_iters=900)
    assert (report.spent, report.grid, report.fraction) == (1200, 9 * 900, 1200 / 8100)
    assert str(report) == "generator iterations spent: 1,200 of the full grid's 8,100 (14.8%)"
    swept_budget = parse_space({"seed": "0,1", "train.iters": "1000,2000"})
    assert grid_iters(swept_budget, trial_iters=500) == 2 * (1000 + 2000)
    assert spending(study, SEARCH, 900).fraction is None
