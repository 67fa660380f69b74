"""What every process of an adaptive sweep opens of its study: its storage, as one string (an Optuna storage URL, or
`journal:PATH` for Optuna's journal file, optuna >= 3.1, which has no URL of its own), and its pruner, which Optuna
does not store: the sweep keeps its spec in the study's user attributes (PRUNER_ATTR), and a trial's process builds
the same pruner from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

JOURNAL = "journal:"
PRUNER_ATTR = "gansweep_pruner"  # {"name", "first_eval", "trial_iters", "reduction_factor"}
SUMMARY = Path(".gansweep") / "study.json"  # in the sweep folder: the study's outcome, for the report


def journal_backend() -> Any:
    """This Optuna's journal file class (JournalFileBackend from 4.0, JournalFileStorage in 3.1 - 3.6), else None."""
    import optuna

    try:
        from optuna.storages.journal import JournalFileBackend

        return JournalFileBackend
    except ImportError:
        return getattr(optuna.storages, "JournalFileStorage", None)


def open_storage(address: str) -> Any:
    """The storage `address` names: a URL as Optuna takes it, or a journal file's storage."""
    if not address.startswith(JOURNAL):
        return address
    import warnings

    import optuna

    storages: Any = optuna.storages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return storages.JournalStorage(journal_backend()(address[len(JOURNAL) :]))


def pruner_of(name: str, first_eval: int, trial_iters: int, reduction_factor: int = 3) -> Any:
    """asha (successive halving, asynchronous), hyperband, median or none; rungs in generator iterations, the first
    at `first_eval` (a trial's first evaluation), the last at `trial_iters` (its whole budget)."""
    import optuna

    pruners = optuna.pruners
    if name == "asha":
        return pruners.SuccessiveHalvingPruner(min_resource=first_eval, reduction_factor=reduction_factor)
    if name == "hyperband":
        return pruners.HyperbandPruner(
            min_resource=first_eval, max_resource=trial_iters, reduction_factor=reduction_factor
        )
    if name == "median":  # Optuna's default of 5 finished trials before the first prune
        return pruners.MedianPruner(n_warmup_steps=first_eval)
    return pruners.NopPruner()


def load_trial(address: str, study_name: str, number: int) -> Any:
    """Trial `number` of the study, with the study's own pruner (from its spec), for a trial's process to report to."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=open_storage(address))
    spec = study.user_attrs.get(PRUNER_ATTR)
    if spec is not None:
        study.pruner = pruner_of(**spec)
    trial_id = next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == number)
    return optuna.trial.Trial(study, trial_id)
