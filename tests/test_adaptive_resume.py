"""hydra/sweeper=adaptive stopped from outside (issue 23, tests: kill-and-resume of a study). A real sweep from the
shell is stopped by SIGTERM to its process group while one fused group of trials is mid-way, then continued (with
gansweep-resume, or the same command again): the trials that had ended are kept as they were (never retrained), the
interrupted ones continue from their checkpoints, and the study goes on where it stopped (every trial number once, none
left running, each trial's state in the study its record's). One trial's own process SIGKILLed mid-training inside a
sweep ends that trial failed (no retry), and the study goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import optuna
import pytest
import pytorch_lightning as pl

from gansweep.record import STATE_KEY
from tests.conftest import REPO
from tests.helpers import checkpoint_of

STATES = {
    "ok": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "failed": optuna.trial.TrialState.FAIL,
}
TOY = ["arch.hidden=16", "train.batch_size=64", "metrics.num_samples=300", "logger=none", "metrics.every=10"]


class PruneTrial(pl.Callback):
    """Prunes the trial whose `point` (${hydra:job.num}: its number) is `only_point` after generator iteration `at`,
    as TrialReport does when the study's pruner says stop: a trial known to end pruned."""

    def __init__(self, at: int, point: Any, only_point: Any) -> None:
        self.at, self.active = at, str(point) == str(only_point)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if self.active and module.g_iters == self.at:
            module.prune()


def hold(trial: int, at: int, marker: Path) -> List[str]:
    """Trial `trial` (its job number) waits at generator iteration `at` once, writing `marker` (its process id)."""
    hold = [
        "+callbacks.hold._target_=tests.helpers.HoldAt",
        f"+callbacks.hold.at={at}",
        f"+callbacks.hold.marker={marker}",
    ]
    return hold + ["+callbacks.hold.point=${hydra:job.num}", f"+callbacks.hold.only_point={trial}"]


def env() -> Dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled", PYTHONPATH=str(REPO))  # tests.* importable


def start(args: List[str], cwd: Path, log: Path) -> subprocess.Popen:
    """`gansweep -m ARGS` in its own process group (what a shell job or a SLURM step is), its output in `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gansweep", "-m", *args],
            cwd=cwd,
            env=env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, f"the sweep ended ({proc.returncode}) first:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def finish(proc: subprocess.Popen, log: Path, timeout_s: float = 300) -> int:
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(log.read_text()[-3000:]) from None


def study_of(sweep: Path) -> optuna.Study:
    return optuna.load_study(study_name=sweep.name, storage=f"sqlite:///{sweep / 'optuna.db'}")


def record(sweep: Path, num: int) -> Optional[Dict[str, Any]]:
    path = sweep / str(num) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def stamps(folder: Path) -> Dict[Path, tuple]:
    """metrics.json and the checkpoint: (mtime, bytes) each, to tell a kept trial from one run again."""
    files = [folder / "metrics.json", folder / "checkpoints" / "last.ckpt"]
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files if p.exists()}


def job_lines(sweep: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in (sweep / "jobs.jsonl").read_text().splitlines()]


def assert_study_agrees_with_records(sweep: Path, n_trials: int) -> optuna.Study:
    """Trial numbers 0..n_trials-1, none left running, each trial's state its record's (a pruned one's checkpoint
    kept, so that it can be promoted)."""
    study = study_of(sweep)
    assert sorted(t.number for t in study.trials) == list(range(n_trials))
    for trial in study.trials:
        rec = record(sweep, trial.number)
        assert rec is not None, trial.number
        assert trial.state == STATES[rec["status"]], (trial.number, trial.state, rec["status"])
        if rec["status"] == "ok":
            assert trial.value == rec["metrics"]["energy_distance"]
        if rec["status"] == "pruned":
            assert (sweep / str(trial.number) / "checkpoints" / "last.ckpt").exists()
    return study


def grid_points(study: optuna.Study) -> List[tuple]:
    return sorted(tuple(sorted(t.params.items())) for t in study.trials)


SWEEP = [
    "hydra/sweeper=adaptive",
    "optim.lr=1e-4,1e-3",
    "constraint.gp.weight=0.1,10",
    "seed=0,1",
    "train.iters=40",
    *TOY,
    "hydra.launcher.fuse=2",
    "hydra.sweeper.metric=energy_distance",
    "hydra.sweeper.refill=false",  # each group its two trials (tests/test_refill_sweep.py stops a refilled one)
]


@dataclass
class Stopped:
    """A sweep stopped mid-way and continued: what its folder and study held at the stop, and its folder after."""

    sweep: Path
    states: Dict[int, Any]  # trial number -> its state in the study at the stop
    before: Dict[int, Optional[Dict[str, Any]]]  # trial number -> its record at the stop
    kept: Dict[int, Dict[Path, tuple]]  # the trials that had ended: their files at the stop
    checkpointed: Dict[int, int]  # the interrupted trials: the generator iteration of their checkpoint at the stop


@pytest.fixture(scope="module", params=["gansweep-resume", "the same command"])
def stopped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Stopped:
    """Groups of two trials, one group at a time: (0, 1) end (1 pruned at iteration 20 at the latest, by the study
    or by PruneTrial); (2, 3) are stopped at iteration 5 by SIGTERM to the sweep's process group, before their first
    evaluation (so neither is pruned first); the launcher had asked for the group after them already (it prepares the
    next job while one runs). Then the sweep is continued by gansweep-resume or by its own command again."""
    tmp_path = tmp_path_factory.mktemp("stopped")
    sweep, marker, log = tmp_path / "sweep", tmp_path / "mid-way", tmp_path / "sweep.log"
    prune = ["+callbacks.prune._target_=tests.test_adaptive_resume.PruneTrial", "+callbacks.prune.at=20"]
    prune += ["+callbacks.prune.point=${hydra:job.num}", "+callbacks.prune.only_point=1"]
    args = [*SWEEP, *prune, *hold(2, 5, marker), f"hydra.sweep.dir={sweep}"]
    first = start(args, tmp_path, log)
    wait_for(marker, first, log)
    os.killpg(first.pid, signal.SIGTERM)  # as Ctrl-C or a scheduler stops a job: every process of the group
    assert finish(first, log) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    assert f"gansweep-resume {sweep}` finishes the sweep" in log.read_text()
    states = {t.number: t.state for t in study_of(sweep).trials}
    before = {num: record(sweep, num) for num in states}
    kept = {num: stamps(sweep / str(num)) for num, rec in before.items() if rec and rec["status"] != "interrupted"}
    interrupted = [num for num, rec in before.items() if rec and rec["status"] == "interrupted"]
    checkpointed = {num: int(checkpoint_of(sweep / str(num))[STATE_KEY]["g_iters"]) for num in interrupted}
    if request.param == "gansweep-resume":
        resumed = subprocess.run(
            [str(Path(sys.executable).with_name("gansweep-resume")), str(sweep)],
            cwd=REPO,  # anywhere: it runs from the folder the sweep was launched from
            env=env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    else:
        assert finish(start(args, tmp_path, log), log) == 0, log.read_text()[-3000:]
    return Stopped(sweep, states, before, kept, checkpointed)


@pytest.mark.slow
def test_a_sweep_stopped_mid_way_leaves_ended_trials_ended_and_running_ones_running(stopped: Stopped):
    states, before = stopped.states, stopped.before
    assert before[0] is not None and before[1] is not None
    assert (states[0], before[0]["status"]) == (STATES["ok"], "ok")  # the first to reach each rung goes on
    assert (states[1], before[1]["status"]) == (STATES["pruned"], "pruned") and before[1]["pruned_at"] <= 20
    for num in (2, 3):  # stopped where they were, each with its checkpoint, and running in the study
        rec = before[num]
        assert rec is not None and (rec["status"], rec["g_iters"]) == ("interrupted", 5)
        assert states[num] == optuna.trial.TrialState.RUNNING
    assert stopped.checkpointed == {2: 5, 3: 5}
    unstarted = [num for num in states if num > 3]  # asked, never started: running in the study, no record
    assert all(states[n] == optuna.trial.TrialState.RUNNING and before[n] is None for n in unstarted)
    assert len(states) < 8  # the study had trials left to ask
    assert sorted(stopped.kept) == [0, 1]


@pytest.mark.slow
def test_a_continued_study_keeps_ended_trials_continues_running_ones_and_runs_no_trial_twice(stopped: Stopped):
    sweep = stopped.sweep
    study = assert_study_agrees_with_records(sweep, 8)  # n_trials (the grid's size), none running
    for num, files in stopped.kept.items():  # not trained again: their record and checkpoint as they were
        assert stamps(sweep / str(num)) == files, num
    for num, at in stopped.checkpointed.items():  # continued from the checkpoint each stopped with
        after = record(sweep, num)
        assert after is not None and after["resumed_from"] == at > 0, (num, after)
    for num in range(4, 8):  # begun by the continued sweep (asked before the stop, or after it)
        after = record(sweep, num)
        assert after is not None and after["resumed_from"] is None, (num, after)
    ends = [line["job"] for line in job_lines(sweep) if line["status"] != "interrupted"]
    assert sorted(ends) == list(range(8))  # each trial's point ended once, across both runs
    summary = json.loads((sweep / ".gansweep" / "study.json").read_text())
    assert sum(summary["trials"].values()) == 8 and summary["trials"]["running"] == 0
    spent = [record(sweep, t.number)["g_iters"] for t in study.trials]  # type: ignore[index]
    assert summary["spent"] == sum(spent)


@pytest.mark.slow
def test_a_continued_grid_study_runs_each_grid_point_once(stopped: Stopped):
    points = grid_points(study_of(stopped.sweep))
    assert len(set(points)) == len(points) == 8, points


@pytest.mark.slow
def test_a_trial_whose_process_is_killed_mid_training_ends_failed_and_the_study_goes_on(tmp_path: Path):
    """Trials one at a time, each its own process: trial 1's is SIGKILLed at iteration 5 (a checkpoint of iteration
    4 on disk); the launcher records it failed (how it died), the study is told FAIL, trials 2 and 3 still run, and
    gansweep-resume keeps the failure (resume.failed=skip, the default), retrying nothing."""
    sweep, marker, log = tmp_path / "sweep", tmp_path / "mid-way", tmp_path / "sweep.log"
    args = ["hydra/sweeper=adaptive", "optim.lr=1e-4,1e-3", "seed=0,1", "train.iters=30", *TOY]
    args += ["train.checkpoint_every=4", "hydra.sweeper.metric=energy_distance", *hold(1, 5, marker)]
    proc = start([*args, f"hydra.sweep.dir={sweep}"], tmp_path, log)
    wait_for(marker, proc, log)
    os.kill(json.loads(marker.read_text())["pid"], signal.SIGKILL)  # the trial's own process, not the launcher
    assert finish(proc, log) == 0, log.read_text()[-3000:]

    study = assert_study_agrees_with_records(sweep, 4)
    assert len(set(grid_points(study))) == 4  # each grid point once
    killed = record(sweep, 1)
    assert killed is not None and (killed["status"], killed["exit_signal"]) == ("failed", "SIGKILL")
    assert "killed by SIGKILL" in killed["error"]
    assert [t.state for t in study.trials][1] == optuna.trial.TrialState.FAIL
    assert all(t.state != optuna.trial.TrialState.FAIL for t in study.trials if t.number != 1)
    assert [line["job"] for line in job_lines(sweep)] == [0, 1, 2, 3]  # each once: the killed one not retried
    assert [line["exitcode"] for line in job_lines(sweep)][1] == -signal.SIGKILL

    kept = {num: stamps(sweep / str(num)) for num in range(4)}
    resumed = subprocess.run(
        [str(Path(sys.executable).with_name("gansweep-resume")), str(sweep)],
        cwd=REPO,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {num: stamps(sweep / str(num)) for num in range(4)} == kept  # nothing run again, the failure kept
    assert [t.state for t in study_of(sweep).trials] == [t.state for t in study.trials]
    assert len(job_lines(sweep)) == 4
