"""hydra/sweeper=adaptive (gansweep.search.sweeper, gansweep.callbacks.trial): a pruned member leaves its fused group
and the others train on exactly as in a group without the pruning (float64); a trial reports each evaluation to its
study and is pruned where the study's pruner says; a sweep from the shell records every trial with the status its
study holds, pruned ones with their checkpoint, and a second run of the same command continues the study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import optuna
import pytest
import pytorch_lightning as pl

from gansweep.callbacks.evaluation import Evaluation
from gansweep.callbacks.trial import TrialReport
from gansweep.studies import PRUNER_ATTR
from tests.test_fused_training import TOY, WGAN_GP_GRID, Built, built, fit, point_state


class PruneAt(pl.Callback):
    """Prunes its point after generator iteration `at` (what TrialReport does when the pruner says stop)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if module.g_iters == self.at:
            module.prune()


def make() -> List[Built]:
    return [built([*TOY, f"optim.lr={lr}", f"constraint.gp.weight={w}", f"seed={s}"]) for lr, w, s in WGAN_GP_GRID]


def test_a_pruned_member_leaves_its_group_and_the_others_train_on_untouched():
    train = dict(iters=12, batch_size=32, n_critic=2)
    clean, clean_curves = fit(make(), fused=True, **train)
    pruned, pruned_curves = fit(make(), fused=True, callbacks=[[], [PruneAt(5)], [], []], **train)
    module = pruned[0]
    assert [(p.status, p.ended_at) for p in module.health.points] == [("ok", 12), ("pruned", 5), ("ok", 12), ("ok", 12)]
    assert module.health.points[1].record_fields() == {"status": "pruned", "g_iters": 5, "pruned_at": 5}
    for k in (0, 2, 3):  # bit-identical to the group without the pruning
        a, b = point_state(clean[0].stack.points[k]), point_state(module.stack.points[k])
        assert all(a[key].equal(b[key]) for key in a), f"point {k} changed"
        assert pruned_curves[k].rows == clean_curves[k].rows
    alone, _ = fit(make()[1:2], fused=False, **dict(train, iters=5))  # the pruned one: as its run alone to iteration 5
    a, b = point_state(alone[0].stack.points[0]), point_state(module.stack.points[1])
    assert all(a[key].allclose(b[key], rtol=0, atol=1e-10) for key in a)


class Known(Evaluation):
    """A stand-in evaluation of known values: energy distance `values[g_iters]` every 2 generator iterations."""

    def __init__(self, values: dict) -> None:
        super().__init__(num_samples=1, every=2)
        self.values = values

    def compute(self, trainer: pl.Trainer, module: Any) -> dict:
        return {"energy_distance": self.values[module.g_iters]}


def test_a_trial_reports_each_evaluation_and_stops_where_its_study_prunes_it(tmp_path: Path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)
    study = optuna.create_study(storage=storage, study_name="s", pruner=pruner)
    spec = {"name": "asha", "first_eval": 2, "trial_iters": 6, "reduction_factor": 3}
    study.set_user_attr(PRUNER_ATTR, spec)  # as the sweep keeps it: the trial's process builds the same pruner
    for value in (3.0, 2.0, 1.0):  # three finished trials set the rung at iteration 2, each the best so far
        trial = study.ask()
        trial.report(value, 2)
        assert not trial.should_prune()  # ASHA records a trial's rung value when the trial asks it
        study.tell(trial, value)
    trial = study.ask()  # ours reports 10 at iteration 2: not in the best third, pruned there
    callbacks = [Known({2: 10.0, 4: 9.0, 6: 8.0}), TrialReport(storage, "s", trial.number, "energy_distance")]
    (module,), _ = fit(make()[:1], fused=False, iters=6, batch_size=16, n_critic=1, callbacks=[callbacks])
    assert (module.health.points[0].status, module.health.points[0].ended_at) == ("pruned", 2)
    stored = optuna.load_study(study_name="s", storage=storage).trials[trial.number]
    assert stored.intermediate_values == {2: 10.0}


def gansweep(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    command = [sys.executable, "-m", "gansweep", "-m", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


SWEEP = [
    "hydra/sweeper=adaptive",
    "optim.lr=1e-4,1e-3",
    "constraint.gp.weight=0.1,10",
    "seed=0,1",
    "train.iters=90",
    "metrics.every=10",
    "metrics.num_samples=300",
    "arch.hidden=16",
    "train.batch_size=64",
    "hydra.launcher.fuse=2",
    "hydra.sweeper.seed=0",
    "hydra.sweeper.metric=energy_distance",  # continuous: the default (modes covered) ties too often to prune here
]


@pytest.mark.slow
def test_an_adaptive_sweep_from_the_shell_records_what_its_study_holds_and_continues_it(tmp_path: Path):
    sweep = tmp_path / "sweep"
    done = gansweep(*SWEEP, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE  # the metric's own direction
    states = {"ok": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED}
    assert len(study.trials) == 8
    for trial in study.trials:  # each trial's folder is its number; its record and the study agree
        record = json.loads((sweep / str(trial.number) / "metrics.json").read_text())
        assert trial.state == states[record["status"]], trial.number
        assert (sweep / str(trial.number) / "checkpoints" / "last.ckpt").exists()
        if record["status"] == "ok":
            assert trial.value == record["metrics"]["energy_distance"]
        else:
            assert record["pruned_at"] == max(trial.intermediate_values) < 90
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    report = (sweep / "report.md").read_text()
    assert pruned and f"{len(pruned)} pruned" in report
    best = study.best_trial  # the report names it, and what the study spent against the full grid
    assert f"Best: trial {best.number} (folder `{best.number}`)" in report
    spent = sum(json.loads((sweep / str(t.number) / "metrics.json").read_text())["g_iters"] for t in study.trials)
    assert f"Generator iterations spent: {spent:,} of the full grid's 720" in report
    records = {p: p.read_bytes() for p in sweep.glob("*/metrics.json")}
    again = subprocess.run(  # the study is complete: gansweep-resume continues it, and nothing is left to run
        [sys.executable, "-c", "from gansweep.cli import resume; resume()", str(sweep)],
        cwd=tmp_path,
        env=dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep / 'optuna.db'}").trials) == 8
    assert {p: p.read_bytes() for p in sweep.glob("*/metrics.json")} == records


@pytest.mark.parametrize(
    "overrides, metric",
    [([], "modes_covered"), (["dataset=swissroll"], "energy_distance"), (["dataset=stacked_digits"], "fid_digits")],
)
def test_a_sweep_without_a_metric_optimises_its_points_headline(overrides, metric):
    from gansweep.record import higher_is_better
    from gansweep.run.build import headline
    from tests.conftest import compose_config

    assert headline(compose_config(overrides)) == metric
    assert higher_is_better(metric) == (metric == "modes_covered")  # the study's direction follows


def test_trials_are_pulled_as_slots_free_running_ones_first_and_told_as_they_end():
    from gansweep.search.budget import StopRule
    from gansweep.search.space import parse_space
    from gansweep.search.sweeper import _Trials

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = parse_space({"optim.lr": "interval(1e-4, 1e-3)"})
    left_running = study.ask({"optim.lr": optuna.distributions.UniformDistribution(1e-4, 1e-3)})
    told = []
    trials = _Trials(
        study, space, StopRule(n_trials=3), lambda t: [f"n={t.number}"], [left_running], lambda t, r: told.append(t)
    )
    first = trials.next_jobs(2)  # a freed slot of a fused pair: the running trial first, then a new one
    assert [num for num, _ in first] == [left_running.number, 1] and first[0][1] == ["n=0"]
    assert [num for num, _ in trials.next_jobs(2)] == [2]  # n_trials: one more, then none
    assert trials.next_jobs(1) == []
    trials.ended(1, None)
    assert [t.number for t in told] == [1] and set(trials.running) == {0, 2}


@pytest.mark.slow
def test_a_study_whose_trial_cannot_train_records_it_failed_and_ends(tmp_path: Path):
    sweep = tmp_path / "sweep"
    args = ["hydra/sweeper=adaptive", "optim.lr=1e-4,-1", "train.iters=20", "metrics.every=10"]  # -1 cannot train
    done = gansweep(*args, "metrics.num_samples=100", "arch.hidden=16", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep / 'optuna.db'}")
    by_lr = {str(t.params["optim.lr"]): t.state for t in study.trials}
    assert by_lr == {"0.0001": optuna.trial.TrialState.COMPLETE, "-1": optuna.trial.TrialState.FAIL}
