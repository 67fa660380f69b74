"""A search space as Optuna distributions, for study.ask: the classes of the installed Optuna (IntDistribution and
FloatDistribution from 3.0, the Uniform family before), with hydra-optuna-sweeper's reading of each axis."""

from __future__ import annotations

from typing import Any, Dict

import optuna.distributions as od

from gansweep.search.space import Choice, Dimension, Range, SearchSpace

_INT: Any = getattr(od, "IntDistribution", None)  # optuna >= 3.0, which deprecates the Uniform family
_FLOAT: Any = getattr(od, "FloatDistribution", None)


def distributions(space: SearchSpace) -> Dict[str, Any]:
    """Each swept key's distribution (fixed keys are overrides, not parameters of the study)."""
    return {key: distribution(dim) for key, dim in space.dimensions.items()}


def distribution(dim: Dimension) -> Any:
    """A categorical for a choice; an int or stepped float axis for a range, over exactly Hydra's values (its stop
    excluded); a uniform or log-uniform axis for an interval (an int one only when both ends are ints)."""
    if isinstance(dim, Choice):
        return od.CategoricalDistribution(dim.values)
    if isinstance(dim, Range):
        low, high, step = min(dim.values), max(dim.values), abs(dim.step)
        if dim.integer:
            return _int(int(low), int(high), int(step), log=False)
        return _FLOAT(low, high, step=step) if _FLOAT else od.DiscreteUniformDistribution(low, high, step)
    if isinstance(dim.low, int) and isinstance(dim.high, int):
        return _int(dim.low, dim.high, 1, log=dim.log)
    if _FLOAT:
        return _FLOAT(dim.low, dim.high, log=dim.log)
    return od.LogUniformDistribution(dim.low, dim.high) if dim.log else od.UniformDistribution(dim.low, dim.high)


def _int(low: int, high: int, step: int, log: bool) -> Any:
    """An int axis in the installed Optuna's classes."""
    if _INT:
        return _INT(low, high, log=log, step=step)
    return od.IntLogUniformDistribution(low, high) if log else od.IntUniformDistribution(low, high, step=step)
