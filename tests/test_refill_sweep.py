"""Refill from the shell (gansweep.search.refill): an adaptive sweep's fused group gives a pruned member's slot to a
new trial, which runs in its own folder with its own record, and composes with the rest of the sweep: stopped by
SIGTERM while the joined trial trains and continued with the same command, every trial runs once (the joined one from
its checkpoint) and the study agrees with the records; the group's process SIGKILLed while the joined trial trains,
the joined trial is recorded failed (its process's fate, not lost running) and the study goes on."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import optuna
import pytest
import pytorch_lightning as pl
import torch

from gansweep.signals import stop_requested
from tests.test_adaptive_resume import (
    STATES,
    TOY,
    assert_study_agrees_with_records,
    finish,
    grid_points,
    job_lines,
    record,
    start,
    study_of,
    wait_for,
)


class HoldJoined(pl.Callback):
    """At its own generator iteration `at`, a point that joined its group mid-fit (its count is not the group's)
    writes `marker` (its process id and trial number) and waits up to a minute for a stop signal; once."""

    def __init__(self, at: int, marker: str, point: Any) -> None:
        self.at, self.marker, self.point = at, Path(marker), point

    def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
        joined = trainer.lightning_module.g_iters != module.g_iters
        if joined and module.g_iters == self.at and not self.marker.exists():
            self.marker.write_text(json.dumps({"pid": os.getpid(), "trial": int(self.point)}))
            deadline = time.monotonic() + 60
            while not stop_requested() and time.monotonic() < deadline:
                time.sleep(0.05)


def sweep_args(sweep: Path, marker: Path) -> List[str]:
    """A grid of 8 in groups of 2; trial 1 pruned at its first evaluation (its slot refilled there); the first
    joined trial held at its iteration 5."""
    return [
        "hydra/sweeper=adaptive",
        "optim.lr=1e-4,1e-3",
        "constraint.gp.weight=0.1,10",
        "seed=0,1",
        "train.iters=40",
        *TOY,
        "train.checkpoint_every=5",
        "hydra.launcher.fuse=2",
        "hydra.sweeper.metric=energy_distance",
        "hydra.sweeper.seed=0",  # the grid's order fixed: which trials ASHA prunes depends on it
        "+callbacks.prune._target_=tests.test_adaptive_resume.PruneTrial",
        "+callbacks.prune.at=10",
        "+callbacks.prune.point=${hydra:job.num}",
        "+callbacks.prune.only_point=1",
        "+callbacks.hold._target_=tests.test_refill_sweep.HoldJoined",
        "+callbacks.hold.at=5",
        f"+callbacks.hold.marker={marker}",
        "+callbacks.hold.point=${hydra:job.num}",
        f"hydra.sweep.dir={sweep}",
    ]


@pytest.mark.slow
def test_a_sweep_stopped_while_a_joined_trial_trains_continues_it_and_runs_every_trial_once(tmp_path: Path):
    sweep, marker, log = tmp_path / "sweep", tmp_path / "held", tmp_path / "sweep.log"
    args = sweep_args(sweep, marker)
    first = start(args, tmp_path, log)
    wait_for(marker, first, log)
    joined = json.loads(marker.read_text())["trial"]
    os.killpg(first.pid, signal.SIGTERM)
    assert finish(first, log) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    assert joined > 1 and (sweep / str(joined) / ".hydra" / "overrides.yaml").exists()
    held = record(sweep, joined)
    assert held is not None and (held["status"], held["g_iters"]) == ("interrupted", 5), held
    assert {t.number: t.state for t in study_of(sweep).trials}[joined] == optuna.trial.TrialState.RUNNING

    assert finish(start(args, tmp_path, log), log) == 0, log.read_text()[-3000:]
    study = assert_study_agrees_with_records(sweep, 8)
    assert len(set(grid_points(study))) == 8  # each grid point once
    after = record(sweep, joined)
    assert after is not None and after["resumed_from"] == 5 and after["status"] in ("ok", "pruned"), after
    ends = [line["job"] for line in job_lines(sweep) if line["status"] != "interrupted"]
    assert len(ends) == len(set(ends)) and joined in ends, ends  # no trial trained to its end twice
    assert "in a freed slot of" in log.read_text()  # the continued sweep refilled too


@pytest.mark.slow
def test_a_joined_trial_whose_group_process_is_killed_ends_failed_and_the_study_goes_on(tmp_path: Path):
    sweep, marker, log = tmp_path / "sweep", tmp_path / "held", tmp_path / "sweep.log"
    proc = start(sweep_args(sweep, marker), tmp_path, log)
    wait_for(marker, proc, log)
    held = json.loads(marker.read_text())
    os.kill(held["pid"], signal.SIGKILL)  # the group's process: the joined trial and the group's own members
    assert finish(proc, log) == 0, log.read_text()[-3000:]
    study = assert_study_agrees_with_records(sweep, 8)
    lost = record(sweep, held["trial"])
    assert lost is not None and lost["status"] == "failed"
    assert "ended without finishing it" in lost["error"] and "group of trial #" in lost["error"]
    output = (sweep / str(held["trial"]) / "console.log").read_text()  # the group's output, its folder complete
    assert f"trial #{held['trial']} joins a running fused group" in output
    group = int(re.search(r"the group of trial #(\d+)", lost["error"]).group(1))
    failed = {t.number for t in study.trials if t.state == STATES["failed"]}
    assert held["trial"] in failed and failed <= {group, held["trial"]}, failed  # only what the killed process held
    after = [t.state for t in study.trials if t.number > held["trial"]]
    assert after and all(state in (STATES["ok"], STATES["pruned"]) for state in after), after  # the study went on
    assert len(set(grid_points(study))) == 8


@pytest.mark.slow
def test_a_study_varying_a_value_groups_cannot_fuse_fills_and_refills_each_group_with_its_own_value(tmp_path: Path):
    sweep, log = tmp_path / "sweep", tmp_path / "sweep.log"
    args = [
        "hydra/sweeper=adaptive",
        "hydra.sweeper.pruner=none",
        *TOY,
        "arch.hidden=16,24",  # not fusible: a group's trials share it (after TOY's arch.hidden=16)
        "optim.lr=1e-4,1e-3",
        "constraint.gp.weight=0.1,10",
        "train.iters=20",
        "optim.decay=linear",  # a joined trial's schedule counts its own iterations
        "hydra.launcher.fuse=2",
        "hydra.sweeper.metric=energy_distance",
        "hydra.sweeper.seed=0",
        "+callbacks.prune._target_=tests.test_adaptive_resume.PruneTrial",
        "+callbacks.prune.at=10",
        "+callbacks.prune.point=${hydra:job.num}",
        "+callbacks.prune.only_point=1",
        f"hydra.sweep.dir={sweep}",
    ]
    assert finish(start(args, tmp_path, log), log) == 0, log.read_text()[-3000:]
    study = assert_study_agrees_with_records(sweep, 8)
    assert len(set(grid_points(study))) == 8  # each grid point once
    width = {t.number: t.params["arch.hidden"] for t in study.trials}
    groups: Dict[Tuple[int, float], List[int]] = {}
    for line in job_lines(sweep):  # a fused group's trials, those its freed slots took included: one process
        groups.setdefault((line["pid"], line["start"]), []).append(line["job"])
    assert all(len({width[num] for num in members}) == 1 for members in groups.values()), (groups, width)
    assert all(len(members) >= 2 for members in groups.values()), groups  # every group filled, not split by width
    joined = [num for num in width if (record(sweep, num) or {}).get("joined_at")]
    assert joined, "no trial took a freed slot"  # trial 1 pruned at 10: its slot took a trial of trial 0's width
    for num in joined:  # its checkpoint's schedule as its run alone's: its own 20 steps, not the group's
        checkpoint = torch.load(sweep / str(num) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
        assert [s["last_epoch"] for s in checkpoint["lr_schedulers"]] == [20, 20], num
    outputs = [(sweep / str(num) / "console.log").read_text() for num in width]  # the groups' processes' logs
    assert not any("are not refilled" in output for output in outputs)
