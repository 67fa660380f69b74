"""An adaptive sweep's summary (gansweep.studies.SUMMARY, .gansweep/study.json in the sweep folder): what its study
holds, for the report, which reads it without Optuna: the trials by state, the best one, the generator iterations
spent against the full grid, and for the rung plot each trial's reported evaluations (generator iteration -> metric)
with its state and folder, the pruner and the generator iterations of its rungs.

The trials are read from a fresh view of the storage: the sweep's own study object caches the trials it asked
(optuna < 3 never reads them back), so it misses the evaluations their points reported from their own processes.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gansweep.files import write_text_atomic
from gansweep.studies import PRUNER_ATTR, SUMMARY

log = logging.getLogger("gansweep")

RUNG_PRUNERS = ("asha", "hyperband")  # pruners that compare trials at rungs: first_eval * reduction_factor**r
_TRIAL_OVERRIDE = re.compile(r"^search\.trial=(\d+)$")  # how the sweeper tells a point its trial number


def rung_iterations(pruner: Optional[Mapping[str, Any]], budget: int) -> List[int]:
    """The generator iterations at which the pruner compares trials, below `budget` (a trial's last evaluation
    prunes nothing): asha and hyperband, `first_eval * reduction_factor**r` (Hyperband's brackets each start at one
    of these, bracket b at the b-th); median and none have no rungs (median decides at every evaluation from
    first_eval on)."""
    if not pruner or pruner.get("name") not in RUNG_PRUNERS:
        return []
    first, factor = int(pruner["first_eval"]), int(pruner.get("reduction_factor") or 3)
    if first < 1 or factor < 2:
        return [first] if 1 <= first < budget else []
    rungs = []
    rung = first
    while rung < budget:
        rungs.append(rung)
        rung *= factor
    return rungs


def trial_folders(sweep_dir: Path) -> Dict[int, Tuple[str, Optional[str]]]:
    """Trial number -> (its run folder relative to the sweep folder, its record's status), from the records whose
    overrides carry `search.trial=N`."""
    from gansweep.record import read_records

    folders: Dict[int, Tuple[str, Optional[str]]] = {}
    try:
        records = read_records(sweep_dir)
    except (OSError, ValueError):
        return folders
    for record in records:
        for override in record.get("overrides") or []:
            match = _TRIAL_OVERRIDE.match(str(override))
            if match:
                folders[int(match.group(1))] = (str(record["run"]), record.get("status"))
    return folders


def _finite(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def trial_entry(trial: Any, folder: Optional[Tuple[str, Optional[str]]]) -> Dict[str, Any]:
    """One trial of the summary: number, Optuna state, record status and folder, params, final value, its reported
    evaluations [[generator iteration, value], ...] in order, and the generator iterations it spent."""
    from gansweep.search.budget import trial_spent

    values = ((int(step), _finite(value)) for step, value in trial.intermediate_values.items())
    reported = sorted((step, value) for step, value in values if value is not None)
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "status": folder[1] if folder else None,
        "folder": folder[0] if folder else None,
        "params": dict(trial.params),
        "value": _finite(trial.value) if trial.state.name == "COMPLETE" else None,
        "intermediate": [[step, value] for step, value in reported],
        "spent": trial_spent(trial),
    }


def best_entry(entries: Sequence[Mapping[str, Any]], direction: str) -> Optional[Mapping[str, Any]]:
    """The complete trial of the best value (ties: the lowest number, as Optuna picks), or None."""
    complete = [e for e in entries if e["state"] == "complete" and e["value"] is not None]
    if not complete:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(complete, key=lambda e: (sign * e["value"], e["number"]))


def build_summary(
    study_name: str,
    metric: Optional[str],
    direction: str,
    trials: Sequence[Any],
    pruner: Optional[Mapping[str, Any]],
    grid: Optional[int],
    folders: Optional[Mapping[int, Tuple[str, Optional[str]]]] = None,
) -> Dict[str, Any]:
    """The summary of a study's `trials` (Optuna FrozenTrials); `pruner` is its spec (gansweep.studies.PRUNER_ATTR),
    `grid` what the full grid costs in generator iterations (None: not a grid)."""
    import optuna

    folders = folders or {}
    entries = [trial_entry(t, folders.get(t.number)) for t in sorted(trials, key=lambda t: t.number)]
    best = best_entry(entries, direction)
    budget = int(pruner["trial_iters"]) if pruner and pruner.get("trial_iters") else None
    last = max([budget or 0, *(step for e in entries for step, _ in e["intermediate"])])
    states = [t.state for t in trials]
    return {
        "study": study_name,
        "metric": metric,
        "direction": direction,
        "trials": {state.name.lower(): states.count(state) for state in optuna.trial.TrialState},
        "best": None
        if best is None
        else {"trial": best["number"], "value": best["value"], "params": best["params"], "folder": best["folder"]},
        "spent": sum(e["spent"] for e in entries),
        "grid": grid,
        "pruner": dict(pruner) if pruner else None,
        "budget": budget,  # a trial's generator iterations (train.iters)
        "rungs": rung_iterations(pruner, last),
        "per_trial": entries,
    }


def fresh_trials(study: Any, address: Optional[str]) -> List[Any]:
    """The study's trials as its storage holds them now (what the trials' own processes reported included); the
    study's own copies when the storage cannot be opened again."""
    if address is not None:
        import optuna

        from gansweep.studies import open_storage

        try:
            stored = optuna.load_study(study_name=study.study_name, storage=open_storage(address))
            return list(stored.get_trials(deepcopy=False))
        except Exception as err:  # the summary is still written from what the sweep itself holds
            log.warning("adaptive sweep: the study could not be read again (%s: %s)", type(err).__name__, err)
    return list(study.get_trials(deepcopy=False))


def write_summary(
    sweep_dir: Path, study: Any, metric: Optional[str], direction: str, grid: Optional[int], address: Optional[str]
) -> Dict[str, Any]:
    """Write the study's summary (gansweep.studies.SUMMARY) into the sweep folder and return it; `address` is the
    study's storage (gansweep.search.storage.storage_address), `grid` the full grid's generator iterations."""
    sweep_dir = Path(sweep_dir)
    trials = fresh_trials(study, address)
    summary = build_summary(
        study.study_name, metric, direction, trials, study.user_attrs.get(PRUNER_ATTR), grid, trial_folders(sweep_dir)
    )
    (sweep_dir / SUMMARY).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(sweep_dir / SUMMARY, json.dumps(summary, indent=1, default=str) + "\n")
    return summary
