"""An adaptive sweep's Optuna study, built from its settings: sampler, pruner, direction and storage; created, or
loaded when the storage already holds it (a resumed sweep continues its study)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import optuna

from gansweep.search.pruners import make_pruner
from gansweep.search.samplers import make_sampler
from gansweep.search.settings import SearchError, SearchSettings
from gansweep.search.space import SearchSpace
from gansweep.search.storage import make_storage
from gansweep.studies import PRUNER_ATTR


def open_study(
    settings: SearchSettings, space: SearchSpace, sweep_dir: Path, first_eval: int, trial_iters: int
) -> optuna.Study:
    """The study of the sweep in `sweep_dir`, named after the folder unless settings name it; `first_eval` is the
    generator iteration of a trial's first evaluation (the first rung), `trial_iters` a trial's whole budget."""
    settings.check()
    sweep_dir = Path(sweep_dir)
    name = settings.study_name or sweep_dir.resolve().name
    other = f"study {name!r} in its storage is to {_other(settings.direction)}; direction={settings.direction} differs"
    sampler = make_sampler(settings.sampler, space, settings.seed)
    pruner = make_pruner(settings.pruner, first_eval, trial_iters, settings.reduction_factor)
    storage = make_storage(settings.storage, sweep_dir)
    try:
        study = optuna.create_study(
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            study_name=name,
            direction=settings.direction,
            load_if_exists=True,
        )
    except ValueError as error:  # optuna < 3 refuses to load a study of the other direction (and says so)
        if "direction" in str(error):
            raise SearchError(other) from error
        raise
    if study.direction.name.lower() != settings.direction:  # later ones load it as it is
        raise SearchError(other)
    spec = dict(
        name=settings.pruner, first_eval=first_eval, trial_iters=trial_iters, reduction_factor=settings.reduction_factor
    )
    study.set_user_attr(PRUNER_ATTR, spec)  # a trial's process builds the same pruner (gansweep.studies.load_trial)
    return study


def _other(direction: str) -> str:
    """The direction that is not `direction`."""
    return "maximize" if direction == "minimize" else "minimize"


def tell(study: optuna.Study, trial: Any, value: Optional[float] = None, state: Any = None) -> None:
    """study.tell, less the error the GridSampler raises after the last grid point is recorded (its study.stop()
    outside optimize(); Optuna has saved the trial's state by then)."""
    state = optuna.trial.TrialState.COMPLETE if state is None else state
    try:
        study.tell(trial, value, state=state)
    except RuntimeError as error:
        if "Study.stop" not in str(error):
            raise


def reopen(study: optuna.Study, trial_id: int) -> optuna.trial.Trial:
    """A trial the study holds already (left running), to train and tell again, without asking the sampler anew:
    optuna 2.x's Trial() samples relative params again, and its GridSampler then gives the trial another grid point,
    so a continued grid study would count a point never run as visited. Its params are in the storage already."""
    sampler = study.sampler
    study.sampler = optuna.samplers.RandomSampler()  # no relative sampling: nothing is written to the trial
    try:
        return optuna.trial.Trial(study, trial_id)
    finally:
        study.sampler = sampler
