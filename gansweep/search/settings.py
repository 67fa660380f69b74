"""The settings of an adaptive sweep, a plain dataclass so that a Hydra ConfigStore node can be made from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

SAMPLERS = ("grid", "tpe", "random", "qmc")
PRUNERS = ("asha", "hyperband", "median", "none")
DIRECTIONS = ("minimize", "maximize")


class SearchError(ValueError):
    """A setting or search space the study cannot be built from; its message is one line naming what to change."""


def check_choice(name: str, value: Optional[str], choices: Sequence[str]) -> None:
    """A wrong name (sampler=tpee) fails in one line that lists the choices."""
    if value not in choices:
        raise SearchError(f"{name}={value!r} is not an option; choose one of {', '.join(choices)}")


@dataclass
class SearchSettings:
    sampler: Optional[str] = None  # grid | tpe | random | qmc; None: grid when the space is a finite grid, else tpe
    pruner: str = "asha"  # asha | hyperband | median | none
    direction: str = "minimize"  # minimize | maximize (hydra/sweeper=adaptive: null takes the metric's own)
    metric: Optional[str] = None  # what trials report; None: the sweep's headline metric
    n_trials: Optional[int] = None  # None: the whole grid (grid sampler), else bounded by budget
    budget: Optional[int] = None  # total generator iterations of all trials; None: unlimited
    storage: Optional[str] = None  # an Optuna storage URL; None: a file in the sweep folder
    study_name: Optional[str] = None  # None: the sweep folder's name
    seed: Optional[int] = None  # the sampler's seed; None: a random one
    reduction_factor: int = 3  # ASHA's and Hyperband's: 1/3 of a rung's trials go on to the next
    refill: bool = True  # under gansweep's launcher: a fused group's freed slots take new trials (search.refill)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuses a wrong name or a count out of range, in one line (also for a config built without __init__)."""
        if self.sampler is not None:
            check_choice("sampler", self.sampler, SAMPLERS)
        check_choice("pruner", self.pruner, PRUNERS)
        check_choice("direction", self.direction, DIRECTIONS)
        for name in ("n_trials", "budget"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SearchError(f"{name}={value} must be at least 1 (or null: unlimited)")
        if self.reduction_factor < 2:
            raise SearchError(f"reduction_factor={self.reduction_factor} must be at least 2")
