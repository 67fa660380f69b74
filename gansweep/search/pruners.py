"""Optuna pruners by name, their rungs in generator iterations: the first at the first evaluation (`metrics.every`),
then every reduction_factor times further."""

from __future__ import annotations

from typing import Any

from gansweep.search.settings import PRUNERS, SearchError, check_choice
from gansweep.studies import pruner_of


def make_pruner(name: str, first_eval: int, trial_iters: int, reduction_factor: int = 3) -> Any:
    """asha (successive halving, asynchronous), hyperband, median or none; `first_eval` is the generator iteration
    of a trial's first evaluation, `trial_iters` a trial's whole budget in generator iterations."""
    check_choice("pruner", name, PRUNERS)
    if first_eval < 1:
        raise SearchError(f"the first evaluation is at generator iteration {first_eval}; pruning needs one >= 1")
    if name == "hyperband" and trial_iters < first_eval:
        raise SearchError(f"hyperband: a trial's {trial_iters} iterations end before its first evaluation")
    return pruner_of(name, first_eval, trial_iters, reduction_factor)
