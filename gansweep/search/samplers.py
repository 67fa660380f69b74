"""Optuna samplers by name (grid, tpe, random, qmc), seeded, with the default: the grid sampler on a finite grid
(every point a trial), TPE on a space with a continuous axis."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import optuna

from gansweep.search.compat import experimental, supported
from gansweep.search.settings import SAMPLERS, SearchError, check_choice
from gansweep.search.space import Interval, SearchSpace


def sampler_name(name: Optional[str], space: SearchSpace) -> str:
    """The sampler asked for, or the default for this space: grid when it is a finite grid, else tpe."""
    if name is None:
        return "grid" if space.is_grid() else "tpe"
    check_choice("sampler", name, SAMPLERS)
    return name


def make_sampler(name: Optional[str], space: SearchSpace, seed: Optional[int] = None) -> Any:
    """The sampler `name` (None: the default for `space`), seeded where the sampler takes a seed."""
    name = sampler_name(name, space)
    samplers = optuna.samplers
    if name == "grid":
        return _grid_sampler(space, seed)
    if name == "random":
        return samplers.RandomSampler(seed=seed)
    with experimental():
        if name == "tpe":  # the constant liar: trials running at once do not all get the same proposal
            return samplers.TPESampler(seed=seed, **supported(samplers.TPESampler, constant_liar=True))
        if not hasattr(samplers, "QMCSampler"):
            raise SearchError(f"sampler=qmc needs optuna >= 3.0 (installed: {optuna.__version__}); or use tpe, random")
        return samplers.QMCSampler(seed=seed, scramble=True)


def finite_grid(space: SearchSpace) -> Dict[str, List[Any]]:
    """The space's grid for sampler=grid, refused in one line when the space has an interval."""
    grid = space.grid()
    if grid is None:
        intervals = [key for key, dim in space.dimensions.items() if isinstance(dim, Interval)]
        raise SearchError(f"sampler=grid needs a finite grid, and {', '.join(intervals)} is an interval; use tpe")
    return grid


def _grid_sampler(space: SearchSpace, seed: Optional[int]) -> Any:
    """Optuna's GridSampler on the space's grid."""
    grid = finite_grid(space)
    sampler_class = optuna.samplers.GridSampler
    try:
        return sampler_class(grid, **supported(sampler_class, seed=seed))
    except TypeError as error:  # optuna < 3 sorts each key's values, which fails on a mix such as null,1
        raise SearchError(
            f"{_unsortable(grid)} mixes value types, which optuna {optuna.__version__}'s GridSampler cannot sort;"
            " install optuna >= 3.0"
        ) from error


def _unsortable(grid: Dict[str, List[Any]]) -> str:
    """The keys whose values Python cannot sort."""
    keys = []
    for key, values in grid.items():
        try:
            sorted(values)
        except TypeError:
            keys.append(key)
    return ", ".join(keys)
