"""Fused groups in a sweep (`hydra.launcher.fuse=N`): which points fuse, every point's own run folder and record
(the same files and numbers as its unfused run), a point diverging inside a group, and a fused point's checkpoint
resumed as an ordinary run."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any, List, Sequence

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from gansweep.run.fusion import fit_groups, group_points
from gansweep.run.group import train_group
from gansweep.run.task import train
from tests.conftest import compose_config, compose_point, run_cli
from tests.helpers import checkpoint_of, csv_rows, record_of
from tests.wandb_files import offline_runs, read_run

TINY = ["arch.hidden=16", "train.batch_size=32", "train.n_critic=2", "metrics.num_samples=200"]


def point_config(overrides: Sequence[str], out_dir: Path, num: int) -> DictConfig:
    """A point's composed config with its hydra node, as the launcher hands it to a job; its folder exists."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return compose_point(list(overrides), out_dir, multirun=True, num=num)


def grid(*axes: Sequence[str]) -> List[List[str]]:
    """Hydra's order: the last axis varies fastest."""
    points: List[List[str]] = [[]]
    for axis in axes:
        points = [[*point, value] for point in points for value in axis]
    return points


def test_points_fuse_when_they_differ_only_in_fusible_values(tmp_path):
    widths_by_lr = grid(
        ["optim.lr=1e-4", "optim.lr=2e-4", "optim.lr=3e-4", "optim.lr=4e-4"], ["arch.hidden=8", "arch.hidden=16"]
    )
    configs = [point_config(p, tmp_path / str(i), i) for i, p in enumerate(widths_by_lr)]
    assert group_points(configs, fuse=4) == [[0, 2, 4, 6], [1, 3, 5, 7]]  # two widths x 4 lrs: 2 groups of 4
    assert group_points(configs, fuse=3) == [[0, 2, 4], [1, 3, 5], [6], [7]]  # at most 3, in the sweep's order
    assert group_points(configs, fuse=1) == [[i] for i in range(8)]
    fusible = [
        ["seed=0"],
        ["seed=1", "optim.betas=[0.5,0.9]", "constraint.gp.weight=1.0"],
        ["optim.lr_generator=1e-3", "optim.lr_critic=2e-3"],
    ]
    apart = [["train.n_critic=3"], ["train.ema=0.999"], ["loss=hinge"], ["constraint=[sn,gp]"], ["train.batch_size=64"]]
    apart += [["+hydra.job.env_set.X=1"]]  # a group runs under one environment
    alone = [["hydra.job.chdir=true"]] * 2 + [["trainer.precision=16-mixed"]] * 2  # never fused, even together
    configs = [point_config(p, tmp_path / f"f{i}", i) for i, p in enumerate(fusible + apart + alone)]
    assert group_points(configs, fuse=8) == [[0, 1, 2], [3], [4], [5], [6], [7], [8], [9], [10], [11], [12]]
    with pytest.raises(ValueError, match="hydra.launcher.fuse"):
        group_points(configs, fuse=0)


def test_float16_loss_scaling_never_shares_a_fit():
    """One gradient scaler would skip every point's step for one point's overflow."""
    cfgs = [compose_config(["trainer.precision=16-mixed", f"seed={s}"]) for s in (0, 1)]
    assert fit_groups(cfgs) == [[0], [1]]


def test_points_that_differ_only_once_resolved_train_as_separate_fits_with_the_key_named(caplog):
    a = compose_config(["train.n_critic=${seed}", "seed=2"])
    b = compose_config(["train.n_critic=${seed}", "seed=3"])
    c = compose_config(["train.n_critic=${seed}", "seed=2", "optim.lr=3e-4"])
    assert fit_groups([a, b, c]) == [[0, 2], [1]]
    assert "train.n_critic differ once resolved" in caplog.text


class PoisonAt(pl.Callback):
    """Before generator iteration `at`, the critic weights of the point whose seed (its data's) is `only_seed`
    become NaN."""

    def __init__(self, at: int, only_seed: int) -> None:
        self.at, self.only_seed = at, only_seed

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if trainer.datamodule.seed == self.only_seed and module.g_iters + 1 == self.at:
            with torch.no_grad():
                next(module.critic.parameters()).fill_(float("nan"))


class RaiseAt(pl.Callback):
    """Raises at the end of generator iteration `at` of the point whose seed (its data's) is `only_seed`."""

    def __init__(self, at: int, only_seed: int) -> None:
        self.at, self.only_seed = at, only_seed

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if trainer.datamodule.seed == self.only_seed and module.g_iters == self.at:
            raise RuntimeError("a point's own callback failed")


def test_a_point_whose_callback_fails_is_recorded_failed_and_the_others_finish(tmp_path):
    fault = ["+callbacks.fault._target_=tests.test_fused_sweep.RaiseAt", "+callbacks.fault.at=3"]
    fault += ["+callbacks.fault.only_seed=0"]
    common = [*TINY, "train.iters=6", "train.log_every=2", "metrics.every=3", *fault]
    configs = [point_config([*common, f"seed={s}"], tmp_path / str(s), s) for s in range(3)]
    values = train_group(configs)
    records = [record_of(tmp_path / str(s)) for s in range(3)]
    assert [r["status"] for r in records] == ["failed", "ok", "ok"]
    assert "a point's own callback failed" in records[0]["error"] and records[0]["g_iters"] == 3
    assert records[0]["metrics"]  # what its evaluation at 3 computed is kept
    assert [r["g_iters"] for r in records[1:]] == [6, 6] and (tmp_path / "1" / "checkpoints" / "last.ckpt").is_file()
    assert values[1] == records[1]["metrics"]["energy_distance"]


def test_every_way_a_point_fails_stays_its_own_and_a_retry_never_drags_the_healthy_down(tmp_path):
    """One group of five: a healthy point; one whose config fails to build (lr -1); one whose logger cannot open (a
    wrong W&B mode); one whose loss raises mid-training (its critic blows up before iteration 4); one whose own
    callback fails once (a transient error). Each failure is recorded with its own error, the healthy point trains to
    the end. `resume.failed=rerun` retries the four failed ones as a group: the transient one now finishes, the others
    fail again with their own errors, and the healthy point's folder is not touched."""
    common = [*TINY, "train.iters=6", "train.log_every=1", "metrics.every=3", "loss._target_=tests.helpers.BoundedWGAN"]
    once = ["+callbacks.once._target_=tests.helpers.FailOnce", "+callbacks.once.at=2"]
    points = [
        ["seed=0"],
        ["seed=1", "optim.lr=-1.0"],
        ["seed=2", "logger=wandb", "logger.wandb.mode=bogus"],
        ["seed=3", "+callbacks.blow._target_=tests.helpers.BlowUp", "+callbacks.blow.at=4"],
        ["seed=4", *once, f"+callbacks.once.marker={tmp_path / 'once'}"],
    ]

    def configs(*extra: str) -> List[DictConfig]:
        return [point_config([*common, *p, *extra], tmp_path / str(i), i) for i, p in enumerate(points)]

    train_group(configs())
    records = [record_of(tmp_path / str(i)) for i in range(5)]
    assert [(r["status"], r["g_iters"]) for r in records] == [
        ("ok", 6),
        ("failed", 0),
        ("failed", 0),
        ("failed", 3),
    ] + [("failed", 2)]
    assert records[1]["error"].startswith("ValueError: learning rates must be > 0, got -1.0")
    assert records[2]["error"].startswith("ValueError: logger.wandb.mode is one of")
    assert records[3]["error"] == "FloatingPointError: critic scores beyond 1e+06"
    assert records[4]["error"] == "RuntimeError: a one-off failure"
    healthy = (tmp_path / "0" / "metrics.json").stat().st_mtime_ns

    train_group(configs("resume.failed=rerun"))
    again = [record_of(tmp_path / str(i)) for i in range(5)]
    assert [r["status"] for r in again] == ["ok", "failed", "failed", "failed", "ok"]
    assert [r["error"] for r in again[1:4]] == [r["error"] for r in records[1:4]]
    assert (tmp_path / "0" / "metrics.json").stat().st_mtime_ns == healthy and again[0] == records[0]
    assert (again[4]["g_iters"], (tmp_path / "4" / "metrics.failed.json").is_file()) == (6, True)


def test_a_group_that_died_answers_for_each_point_and_each_gets_the_output(tmp_path):
    from gansweep.launch.child import GroupSpec, PointSpec
    from gansweep.launch.local import split_group
    from gansweep.launch.pool import Ended

    dirs = [tmp_path / str(i) for i in range(3)]
    for d in dirs:
        d.mkdir()
    (dirs[0] / "console.log").write_text("an earlier attempt\n")
    (dirs[1] / "console.log").write_text("its own earlier attempt\n")
    specs = tuple(
        PointSpec(i, compose_point([f"seed={i}"]), str(d), None, b"", str(tmp_path), 1) for i, d in enumerate(dirs)
    )
    group = GroupSpec(specs, lease="0", log_start=len("an earlier attempt\n"))
    with open(dirs[0] / "console.log", "a") as fh:
        fh.write("this attempt\n")
    for message in (("error", "MemoryError: out of memory"), None):
        ended = Ended(group, 123, 0.0, 1.0, -9, message)
        points = split_group(ended)
        assert [p.spec.num for p in points] == [0, 1, 2] and all(p.message == message for p in points)
        assert all(p.spec.lease == "0" and p.exitcode == -9 for p in points)
    assert (dirs[1] / "console.log").read_text() == "its own earlier attempt\nthis attempt\nthis attempt\n"
    assert (dirs[2] / "console.log").read_text() == "this attempt\nthis attempt\n"


class TermAt(pl.Callback):
    """SIGTERM to its own process at the end of generator iteration `at`, from the seed-0 point only."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if trainer.datamodule.seed == 0 and module.g_iters == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_point_diverging_in_a_group_is_recorded_at_its_iteration_and_the_others_finish(tmp_path):
    poison = ["+callbacks.poison._target_=tests.test_fused_sweep.PoisonAt", "+callbacks.poison.at=4"]
    poison += ["+callbacks.poison.only_seed=1"]
    common = [*TINY, "train.iters=10", "train.log_every=1", "metrics.every=5", *poison]
    configs = [point_config([*common, f"seed={s}"], tmp_path / str(s), s) for s in range(3)]
    values = train_group(configs)
    records = [record_of(tmp_path / str(s)) for s in range(3)]
    assert [r["status"] for r in records] == ["ok", "diverged", "ok"]
    assert (records[1]["diverged_at"], records[1]["g_iters"]) == (4, 4)
    assert "non-finite loss at generator iteration 4" in records[1]["error"]
    assert [r["g_iters"] for r in (records[0], records[2])] == [10, 10]
    assert (
        values[0] == records[0]["metrics"]["energy_distance"] and values[2] == records[2]["metrics"]["energy_distance"]
    )
    assert (tmp_path / "1" / "samples.png").is_file()  # its figure at the iteration it stopped, as alone
    assert not (tmp_path / "1" / "checkpoints" / "last.ckpt").exists()  # NaN weights are never saved
    steps = [int(r["step"]) for r in csv_rows(tmp_path / "1" / "logs" / "metrics.csv") if r["train/critic"]]
    assert steps == [1, 2, 3, 4]


@pytest.mark.parametrize("resume", ["alone", "fused"])
def test_an_interrupted_group_resumes_alone_or_fused_and_ends_where_each_point_ends_alone(tmp_path, resume):
    """float64: a fused group interrupted at iteration 7 (SIGTERM); each point then resumed alone (its checkpoint is
    an unfused run's), or the group resumed fused from its points' checkpoints; either way each point equals the
    point trained alone from the start: metrics, weights (EMA too), Adam moments, schedules, curves."""
    common = [*TINY, "train.iters=12", "train.log_every=2", "metrics.every=5", "trainer.precision=64-true"]
    common += ["train.ema=0.9", "optim.decay=linear"]
    points = [["seed=0", "optim.lr=1e-4"], ["seed=1", "optim.lr=3e-4"]]
    killer = ["+callbacks.kill._target_=tests.test_fused_sweep.TermAt", "+callbacks.kill.at=7"]
    fused = tmp_path / "fused"
    configs = [point_config([*common, *p, *killer], fused / str(i), i) for i, p in enumerate(points)]
    with pytest.raises(SystemExit):
        train_group(configs)
    for i in range(2):
        state = (record_of(fused / str(i))["status"], checkpoint_of(fused / str(i))["gansweep"]["g_iters"])
        assert state == ("interrupted", 7)
    if resume == "fused":
        train_group([point_config([*common, *p, *killer], fused / str(i), i) for i, p in enumerate(points)])
    for i in range(2):
        if resume == "alone":
            train(compose_config([*common, *points[i], *killer], out_dir=fused / str(i), multirun=True))
        alone_dir = tmp_path / "alone" / str(i)
        alone_dir.mkdir(parents=True)
        train(compose_config([*common, *points[i]], out_dir=alone_dir, multirun=True))
        ours, theirs = record_of(fused / str(i)), record_of(alone_dir)
        assert (ours["status"], ours["g_iters"], ours["resumed_from"]) == ("ok", 12, 7)
        assert ours["metrics"].keys() == theirs["metrics"].keys()
        for key, value in theirs["metrics"].items():
            assert ours["metrics"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        a, b = checkpoint_of(fused / str(i)), checkpoint_of(alone_dir)
        assert a["state_dict"].keys() == b["state_dict"].keys()
        for key, tensor in b["state_dict"].items():
            torch.testing.assert_close(a["state_dict"][key], tensor, atol=1e-9, rtol=0)
        for mine, other in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
            assert mine["param_groups"] == other["param_groups"]
            for index, moments in other["state"].items():
                for name, value in moments.items():
                    torch.testing.assert_close(mine["state"][index][name], value, atol=1e-9, rtol=0)
        assert a["lr_schedulers"] == b["lr_schedulers"]
        rows = csv_rows(fused / str(i) / "logs" / "metrics.csv")
        assert [int(r["step"]) for r in rows if r["train/critic"]] == list(range(2, 13, 2))  # each step once


def files(run_dir: Path) -> List[str]:
    """The folder's files, W&B's own run folder aside (named by its random run id)."""
    names = (str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    return sorted(name for name in names if not name.startswith("wandb/"))


def test_a_fused_sweep_leaves_every_point_the_folder_and_numbers_of_its_unfused_run(tmp_path):
    """From the shell, fused and unfused, with a poisoned point in each group (optim.lr=-1.0: its config fails to
    build): every point leaves the folder, status and numbers of its unfused run, the poisoned ones failed with their
    own error, and each point its own W&B run (offline), open side by side with its group's others in one process."""
    args = ["-m", "optim.lr=1e-4,3e-4,-1.0", "arch.hidden=8,16", *TINY[1:], "train.iters=8", "train.log_every=2"]
    args += ["metrics.every=4", "logger=wandb"]
    fused = run_cli([*args, "hydra.launcher.fuse=4", f"hydra.sweep.dir={tmp_path / 'fused'}"], cwd=tmp_path)
    assert fused.returncode == 0, fused.stderr[-3000:]
    alone = run_cli([*args, f"hydra.sweep.dir={tmp_path / 'alone'}"], cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr[-3000:]
    log = fused.stdout + fused.stderr
    assert re.search(r"fused: #0, #2, #4 train as one model", log) and re.search(r"fused: #1, #3, #5 train", log)
    for n in "012345":
        ours, theirs = tmp_path / "fused" / n, tmp_path / "alone" / n
        assert files(ours) == files(theirs)
        a, b = record_of(ours), record_of(theirs)
        assert a["overrides"] == b["overrides"] and a["status"] == b["status"] and a["error"] == b["error"]
        assert (a["status"], a["g_iters"]) == (("failed", 0) if n in "45" else ("ok", 8))
        for key, value in b["metrics"].items():  # float32: batched and single matmuls round differently
            assert a["metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), (n, key)
        if a["status"] == "ok":
            ours_rows, their_rows = csv_rows(ours / "logs" / "metrics.csv"), csv_rows(theirs / "logs" / "metrics.csv")
            assert [r["step"] for r in ours_rows] == [r["step"] for r in their_rows]
    assert record_of(tmp_path / "fused" / "4")["error"].startswith("ValueError: learning rates must be > 0, got -1.0")
    jobs = [json.loads(line) for line in (tmp_path / "fused" / "jobs.jsonl").read_text().splitlines()]
    assert sorted(j["job"] for j in jobs) == list(range(6)) and {j["run_dir"] for j in jobs} == set("012345")
    assert len({j["pid"] for j in jobs}) == 2  # one process per group
    report = (tmp_path / "fused" / "report_points.csv").read_text()
    assert report.count(",ok,") == 4 and report.count(",failed,") == 2
    runs = []
    for n in range(6):
        (path,) = offline_runs(tmp_path / "fused" / str(n) / "wandb")
        run = read_run(path)
        record = record_of(tmp_path / "fused" / str(n))
        assert run.run["display_name"] == f"#{n} " + " ".join(record["overrides"][:2])
        assert run.config["optim"]["lr"] == pytest.approx(float(record["overrides"][0].split("=")[1]))
        assert run.summary["status"] == record["status"] and run.exit_code == (record["status"] != "ok")
        if record["status"] == "ok":
            assert [row["g_iters"] for row in run.history if "train/critic" in row] == [2, 4, 6, 8]
            assert run.summary["energy_distance"] == pytest.approx(record["metrics"]["energy_distance"])
            runs.append(run)
    assert len({run.run["run_id"] for run in runs}) == 4
    critic = {tuple(row["train/critic"] for row in run.history if "train/critic" in row) for run in runs}
    assert len(critic) == 4  # each run holds its own point's curves
