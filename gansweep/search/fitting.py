"""Trials that fit a fused group: the study's next trial with the group's non-fusible values fixed, so that a study
varying what a group cannot share (an objective, a width, n_critic) still fills its fused groups and refills their
freed slots. With the grid sampler the trial is an unvisited grid point with those values (none left: no trial); with
the others, Optuna's PartialFixedSampler around the study's sampler."""

from __future__ import annotations

import random
from typing import Any, Dict, List, Mapping, Optional

import optuna

from gansweep.search.compat import experimental
from gansweep.search.space import SearchSpace


def group_keys(space: SearchSpace) -> List[str]:
    """The swept keys whose values the points of one fused group must share (gansweep.run.fusion): the non-fusible
    ones, and train.ema where the space can turn it off (a group keeps EMA for all its points or none)."""
    from gansweep.run.fusion import fusible

    return [key for key in space.dimensions if not fusible(key) or _may_be_null(space, key)]


def fixed_values(params: Mapping[str, Any], space: SearchSpace) -> Dict[str, Any]:
    """A trial's values of the space's group_keys."""
    return {key: params[key] for key in group_keys(space) if key in params}


def _may_be_null(space: SearchSpace, key: str) -> bool:
    values = getattr(space.dimensions.get(key), "values", ())
    return key.lstrip("+~") == "train.ema" and any(value is None or str(value) == "null" for value in values)


def ask_joining(study: Any, space: SearchSpace, lead: Optional[Any]) -> Optional[Any]:
    """The next trial for a group that `lead` (a trial) leads, fitting it; with no lead, the study's own choice."""
    return ask_fitting(study, space, fixed_values(lead.params, space) if lead is not None else {})


def ask_fitting(study: Any, space: SearchSpace, fixed: Mapping[str, Any]) -> Optional[Any]:
    """study.ask with the values in `fixed` (a group's, fixed_values) fixed; None when the grid has no unvisited
    point with them. Every ask of a grid study goes through here, `fixed` empty or not: Optuna >= 3 gives trial n grid
    point n, blind to a point pinned here. The caller holds the sweep's ask lock (gansweep.search.workers.ask_lock)."""
    from gansweep.search.distributions import distributions

    if any(key not in space.dimensions for key in fixed):  # a value this space does not vary (a changed sweep)
        return None
    sampler = study.sampler
    if isinstance(sampler, optuna.samplers.GridSampler):
        grid_id = free_grid_point(study, sampler, fixed)
        if grid_id is None:
            return None
        pinned: Any = PinnedGrid(sampler, grid_id)
    elif fixed:
        with experimental():
            pinned = PartlyFixed(dict(fixed), sampler)
    else:
        return study.ask(distributions(space))
    study.sampler = pinned
    try:
        with experimental():
            return study.ask(distributions(space))
    finally:
        study.sampler = sampler


def free_grid_point(study: Any, grid: Any, fixed: Mapping[str, Any]) -> Optional[int]:
    """A grid point with the `fixed` values that no trial has taken (running or ended), chosen at random as the grid
    sampler chooses; None when there is none."""
    names: List[str] = list(grid._param_names)
    trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
    taken = {  # as the grid sampler counts them: trials of this grid only (a changed sweep's are another grid's)
        t.system_attrs["grid_id"]
        for t in trials
        if "grid_id" in t.system_attrs and grid._same_search_space(t.system_attrs.get("search_space", {}))
    }
    free = [
        grid_id
        for grid_id, values in enumerate(grid._all_grids)
        if grid_id not in taken and all(values[names.index(key)] == value for key, value in fixed.items())
    ]
    if not free:
        return None
    rng: Any = getattr(grid, "_rng", None)  # the sampler's own, seeded (optuna >= 3.1: RandomState, LazyRandomState)
    rng = getattr(rng, "rng", rng)
    return int(rng.choice(free)) if hasattr(rng, "choice") else random.choice(free)


class PinnedGrid(optuna.samplers.BaseSampler):
    """The grid sampler for one ask, its grid point chosen beforehand: the trial carries the grid sampler's own
    attributes (grid_id, search_space), so the study's GridSampler counts the point as visited."""

    def __init__(self, grid: Any, grid_id: int) -> None:
        self.grid, self.grid_id = grid, grid_id

    def _pin(self, study: Any, trial: Any) -> None:
        study._storage.set_trial_system_attr(trial._trial_id, "search_space", self.grid._search_space)
        study._storage.set_trial_system_attr(trial._trial_id, "grid_id", self.grid_id)

    def before_trial(self, study: Any, trial: Any) -> None:  # optuna >= 3: where the grid sampler picks its point
        self._pin(study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> Dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Dict[str, Any]) -> Dict[str, Any]:
        self._pin(study, trial)  # optuna 2: where the grid sampler picks its point
        return {}

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self.grid._all_grids[self.grid_id][list(self.grid._param_names).index(param_name)]


class PartlyFixed(optuna.samplers.PartialFixedSampler):
    """Optuna's PartialFixedSampler, less its in-place edit of the base sampler's relative search space (QMCSampler
    hands out its cached one, which would lose the fixed keys for every later ask)."""

    def infer_relative_search_space(self, study: Any, trial: Any) -> Dict[str, Any]:
        space = dict(self._base_sampler.infer_relative_search_space(study, trial))
        return {name: dist for name, dist in space.items() if name not in self._fixed_params}
