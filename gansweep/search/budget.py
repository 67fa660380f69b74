"""What a study has spent, in generator iterations, and when it stops: `n_trials` trials, or a total budget of
generator iterations; and its cost against the full grid's (the report's "generator iterations spent vs the grid")."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Optional

import optuna

from gansweep.search.samplers import finite_grid, sampler_name
from gansweep.search.settings import SearchError, SearchSettings
from gansweep.search.space import SearchSpace

ITERS_ATTR = "g_iters"  # a trial's user attribute: the generator iterations its record says it ran (set as it ends)
ITERS_KEY = "train.iters"  # the config key of a point's budget, when a grid sweeps it


def trial_spent(trial: Any) -> int:
    """The generator iterations a trial has spent: once it ended, what its record says (ITERS_ATTR, set by the sweep
    as it tells the study; the sweep's cached copy of a trial may miss the steps its point reported), else the last
    step it reported (0 before its first evaluation)."""
    last = trial.last_step or 0
    if trial.state.is_finished() and ITERS_ATTR in trial.user_attrs:
        return max(last, int(trial.user_attrs[ITERS_ATTR]))
    return last


def iters_spent(study: optuna.Study) -> int:
    """The generator iterations all the study's trials have spent."""
    return sum(trial_spent(trial) for trial in study.get_trials(deepcopy=False))


@dataclass(frozen=True)
class StopRule:
    n_trials: Optional[int] = None  # no new trial once the study holds this many (any state)
    budget: Optional[int] = None  # no new trial once its trials have spent this many generator iterations

    def should_stop(self, study: optuna.Study) -> bool:
        """Whether the study may start no further trial (running ones finish: the budget is passed by at most them)."""
        trials = study.get_trials(deepcopy=False)
        if self.n_trials is not None and len(trials) >= self.n_trials:
            return True
        return self.budget is not None and sum(trial_spent(trial) for trial in trials) >= self.budget


def stop_rule(settings: SearchSettings, space: SearchSpace) -> StopRule:
    """The settings' limits; the grid sampler stops at the grid's size (every point once); a study with no limit at
    all is refused."""
    n_trials = settings.n_trials
    sampler = sampler_name(settings.sampler, space)
    if sampler == "grid":
        size = prod(len(values) for values in finite_grid(space).values())
        n_trials = size if n_trials is None else min(n_trials, size)
    if n_trials is None and settings.budget is None:
        raise SearchError(f"sampler={sampler} searches without end: set n_trials or budget (generator iterations)")
    return StopRule(n_trials, settings.budget)


def grid_iters(space: SearchSpace, trial_iters: int) -> Optional[int]:
    """The generator iterations the full grid costs (each point its whole budget, `trial_iters` or the train.iters
    it sweeps); None when the space is not a grid."""
    grid = space.grid()
    if grid is None:
        return None
    iters = grid.pop(ITERS_KEY, [trial_iters])
    return sum(int(x) for x in iters) * prod(len(values) for values in grid.values())


@dataclass(frozen=True)
class Spending:
    spent: int  # generator iterations the study's trials spent
    grid: Optional[int]  # what the full grid costs; None when the space is not a grid

    @property
    def fraction(self) -> Optional[float]:
        """spent / grid (the benchmark's "fraction of grid iterations"); None without a grid."""
        return None if not self.grid else self.spent / self.grid

    def __str__(self) -> str:
        if self.fraction is None:
            return f"generator iterations spent: {self.spent:,}"
        return f"generator iterations spent: {self.spent:,} of the full grid's {self.grid:,} ({self.fraction:.1%})"


def spending(study: optuna.Study, space: SearchSpace, trial_iters: int) -> Spending:
    """How many generator iterations the study's trials spent vs what the full grid of `space` would cost."""
    return Spending(iters_spent(study), grid_iters(space, trial_iters))
