"""Optuna pruners by name, their rungs in generator iterations: the first at the first evaluation (`metrics.every`),
then every reduction_factor times further."""

from __future__ import annotations

from typing import Any

import optuna

from gansweep.search.settings import PRUNERS, SearchError, check_choice


def make_pruner(name: str, first_eval: int, trial_iters: int, reduction_factor: int = 3) -> Any:
    """asha (successive halving, asynchronous), hyperband, median or none; `first_eval` is the generator iteration
    of a trial's first evaluation, `trial_iters` a trial's whole budget in generator iterations."""
    check_choice("pruner", name, PRUNERS)
    if first_eval < 1:
        raise SearchError(f"the first evaluation is at generator iteration {first_eval}; pruning needs one >= 1")
    pruners = optuna.pruners
    if name == "asha":
        return pruners.SuccessiveHalvingPruner(min_resource=first_eval, reduction_factor=reduction_factor)
    if name == "hyperband":
        if trial_iters < first_eval:
            raise SearchError(f"hyperband: a trial's {trial_iters} iterations end before its first evaluation")
        return pruners.HyperbandPruner(
            min_resource=first_eval, max_resource=trial_iters, reduction_factor=reduction_factor
        )
    if name == "median":  # Optuna's default of 5 finished trials before the first prune
        return pruners.MedianPruner(n_warmup_steps=first_eval)
    return pruners.NopPruner()
