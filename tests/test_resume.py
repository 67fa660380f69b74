"""Resume and interruption in the task: a run stopped by a signal is checkpointed, recorded as interrupted and
exits; run again on its folder it continues to train.iters and ends exactly where an uninterrupted run ends; a
finished point is skipped untouched; a failed one is kept unless asked; a sweep resumes with gansweep-resume."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from gansweep.callbacks.checkpoint import RunCheckpoint
from gansweep.launch.relaunch import resume_command
from gansweep.lock import LOCK_FILE
from gansweep.record import STATE_KEY
from gansweep.run.fit import cluster_plugins
from gansweep.run.plan import FRESH, RESUME, SKIP, OtherPointError, plan_run
from gansweep.run.task import train
from tests.conftest import REPO, cli_env, compose_config
from tests.helpers import checkpoint_of, csv_rows, record_of

TINY = ["arch.hidden=16", "train.batch_size=32", "train.n_critic=2", "metrics.num_samples=200"]


class Pace(pl.Callback):
    """Sleeps after every generator iteration of a run's first attempt (not a resumed one), so that a test can
    signal the process mid-way; a resumed attempt runs at full speed."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.resumed = seconds, False

    def on_train_start(self, trainer, module):
        self.resumed = module.g_iters > 0

    def on_train_batch_end(self, trainer, module, *args):
        if not self.resumed:
            time.sleep(self.seconds)


class WatchCheckpoint(pl.Callback):
    """Runs after the checkpoint callback: logs the iteration each new last.ckpt holds; never sees a .tmp file."""

    def __init__(self, log: str) -> None:
        self.saved_log, self.stamp = Path(log), None

    def on_train_batch_end(self, trainer, module, *args):
        (path,) = [c.path for c in trainer.callbacks if isinstance(c, RunCheckpoint)]
        assert not list(path.parent.glob("*.tmp"))
        if path.exists() and path.stat().st_mtime_ns != self.stamp:
            self.stamp = path.stat().st_mtime_ns
            with open(self.saved_log, "a") as fh:
                fh.write(f"{torch.load(path, weights_only=True)[STATE_KEY]['g_iters']}\n")


def run(overrides, out_dir):
    out_dir.mkdir(exist_ok=True)
    value = train(compose_config(overrides, out_dir=out_dir, multirun=True))
    return value, record_of(out_dir)


def snapshot(folder):
    """Every file's (mtime, size); the folder lock's text says who held it last, and is not the point's."""
    files = (p for p in folder.rglob("*") if p.is_file() and p.name != LOCK_FILE)
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in files}


def test_interrupted_and_resumed_equals_uninterrupted_exactly(tmp_path):
    overrides = [*TINY, "train.iters=16", "logger=csv", "train.log_every=2", "metrics.every=5", "train.sample_every=5"]
    overrides += ["train.ema=0.9", "optim.decay=linear", "constraint=[sn,gp]"]  # EMA, schedulers, power-iteration
    _, whole = run(overrides, tmp_path / "whole")

    stopped = tmp_path / "stopped"
    killer = ["+callbacks.kill._target_=tests.helpers.SignalAt", "+callbacks.kill.at=7"]
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        run([*overrides, *killer], stopped)
    assert stop.value.code == 128 + signal.SIGTERM  # the status of a process SIGTERM killed
    assert signal.getsignal(signal.SIGTERM) is handler_before  # our handler is gone again
    record = record_of(stopped)
    assert (record["status"], record["g_iters"]) == ("interrupted", 7)
    whole_rows = csv_rows(tmp_path / "whole" / "logs" / "metrics.csv")
    eval_at_5 = next(
        float(r["eval/energy_distance"]) for r in whole_rows if r["step"] == "5" and r["eval/energy_distance"]
    )
    assert record["metrics"]["energy_distance"] == eval_at_5  # the metrics it had reached are kept
    assert checkpoint_of(stopped)[STATE_KEY]["g_iters"] == 7 and not list(stopped.glob("checkpoints/*.tmp"))

    value, record = run([*overrides, *killer], stopped)  # the same command resumes
    assert (record["status"], record["g_iters"], record["resumed_from"]) == ("ok", 16, 7)
    assert record["metrics"] == whole["metrics"] and value == pytest.approx(whole["metrics"]["energy_distance"])
    ours, theirs = checkpoint_of(stopped), checkpoint_of(tmp_path / "whole")
    for key, tensor in theirs["state_dict"].items():  # generator, critic (with its spectral-norm vectors), EMA
        assert torch.equal(ours["state_dict"][key], tensor), key
    for mine, other in zip(ours["optimizer_states"], theirs["optimizer_states"], strict=True):  # Adam moments
        for index, state in other["state"].items():
            assert all(torch.equal(mine["state"][index][k], v) for k, v in state.items())
    assert ours["lr_schedulers"] == theirs["lr_schedulers"]
    # the curves: every step once, and the very same numbers as the uninterrupted run's
    rows = csv_rows(stopped / "logs" / "metrics.csv")
    assert [int(r["step"]) for r in rows if r["train/critic"]] == list(range(2, 17, 2))
    assert [int(r["step"]) for r in rows if r["eval/energy_distance"]] == [5, 10, 15, 16]
    assert rows == whole_rows
    assert sorted(p.name for p in (stopped / "samples").iterdir()) == [
        "iter_000005.png",
        "iter_000010.png",
        "iter_000015.png",
    ]


def test_a_signal_in_the_last_iteration_lets_the_run_finish_then_exits(tmp_path):
    stop = ["+callbacks.stop._target_=tests.helpers.SignalAt", "+callbacks.stop.at=6"]
    with pytest.raises(SystemExit) as exit_:
        run([*TINY, "train.iters=6", "logger=none", *stop], tmp_path)
    assert exit_.value.code == 128 + signal.SIGTERM  # asked to stop: no next point starts in this process
    record = record_of(tmp_path)
    assert (record["status"], record["g_iters"]) == ("ok", 6) and "energy_distance" in record["metrics"]
    assert (tmp_path / "samples.png").exists() and checkpoint_of(tmp_path)[STATE_KEY]["g_iters"] == 6


def test_checkpoints_every_n_generator_iterations_and_at_the_end(tmp_path):
    out, log = tmp_path / "run", tmp_path / "saved.txt"
    watch = [f"+callbacks.watch._target_={__name__}.WatchCheckpoint", f"+callbacks.watch.log={log}"]
    _, record = run([*TINY, "train.iters=14", "train.checkpoint_every=4", "logger=none", *watch], out)
    assert record["status"] == "ok"
    assert log.read_text().split() == ["4", "8", "12"]  # periodic, counted in generator iterations
    assert checkpoint_of(out)[STATE_KEY]["g_iters"] == 14  # and the final one, in the same file
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_finished_point_is_skipped_and_left_untouched(tmp_path):
    overrides = [*TINY, "train.iters=6", "logger=csv"]
    value, record = run(overrides, tmp_path)
    assert record["status"] == "ok"
    before = snapshot(tmp_path)
    again, _ = run(overrides, tmp_path)
    assert again == value and snapshot(tmp_path) == before  # same value, no file written, none added


def test_a_failed_point_is_kept_by_default_and_retried_when_asked(tmp_path):
    overrides = [*TINY, "train.iters=10", "train.checkpoint_every=3", "logger=none"]
    for name in ("resumed", "rerun"):
        fails = ["+callbacks.fail._target_=tests.helpers.FailOnce", "+callbacks.fail.at=5"]
        fails.append(f"+callbacks.fail.marker={tmp_path / name}.marker")
        out = tmp_path / name
        _, record = run([*overrides, *fails], out)
        assert (record["status"], record["g_iters"]) == ("failed", 5)
        before = snapshot(out)
        _, kept = run([*overrides, *fails], out)  # resume.failed=skip: its record stands
        assert kept == record and snapshot(out) == before
        _, retried = run([*overrides, *fails, f"resume.failed={'resume' if name == 'resumed' else 'rerun'}"], out)
        assert (retried["status"], retried["g_iters"]) == ("ok", 10)
        assert retried["resumed_from"] == (3 if name == "resumed" else None)  # its checkpoint, or from scratch
        assert json.loads((out / "metrics.failed.json").read_text())["error"] == "RuntimeError: a one-off failure"


def test_a_folder_of_another_grid_point_is_refused_untouched(tmp_path):
    run([*TINY, "train.iters=4", "logger=none", "seed=0"], tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(OtherPointError, match="seed=1"):
        run([*TINY, "train.iters=4", "logger=none", "seed=1"], tmp_path)
    assert snapshot(tmp_path) == before


def write_point(folder, status=None, g_iters=None, overrides=("seed=0",)):
    """A run folder as a run leaves it: a metrics.json with `status`, a checkpoint at `g_iters`."""
    folder.mkdir(parents=True, exist_ok=True)
    if status is not None:
        (folder / "metrics.json").write_text(json.dumps({"status": status, "overrides": list(overrides)}))
    if g_iters is not None:
        (folder / "checkpoints").mkdir(exist_ok=True)
        torch.save(
            {STATE_KEY: {"g_iters": g_iters, "overrides": list(overrides)}}, folder / "checkpoints" / "last.ckpt"
        )
    return folder


@pytest.mark.parametrize(
    ("status", "g_iters", "failed", "action", "retry"),
    [
        (None, None, "skip", FRESH, None),  # never ran
        (None, 30, "skip", RESUME, None),  # killed hard after a periodic checkpoint
        ("interrupted", 30, "skip", RESUME, None),
        ("interrupted", None, "skip", FRESH, None),  # interrupted before its first checkpoint (or none kept)
        ("ok", 100, "rerun", SKIP, None),
        ("diverged", 30, "resume", SKIP, None),  # finished: its last healthy checkpoint is not continued
        ("failed", 30, "skip", SKIP, None),
        ("failed", 30, "rerun", FRESH, "rerun"),
        ("failed", 30, "resume", RESUME, "resume"),
        ("failed", None, "resume", FRESH, "resume"),
        (None, 100, "skip", FRESH, None),  # a final checkpoint but no record: the budget cannot be continued
    ],
)
def test_what_running_again_does_with_a_folder(tmp_path, status, g_iters, failed, action, retry):
    plan = plan_run(write_point(tmp_path, status, g_iters), ["seed=0", "train.checkpoint_every=10"], failed, iters=100)
    assert (plan.action, plan.retry) == (action, retry)
    assert (plan.checkpoint is not None) == (action == RESUME)


def test_a_checkpoint_of_another_point_or_an_unknown_status_is_refused(tmp_path):
    with pytest.raises(OtherPointError, match="seed=1"):
        plan_run(write_point(tmp_path / "a", None, 30, ["seed=1"]), ["seed=0"], "skip", iters=100)
    with pytest.raises(ValueError, match="crashed"):
        plan_run(write_point(tmp_path / "b", "crashed"), ["seed=0"], "skip", iters=100)
    with pytest.raises(ValueError, match="resume.failed"):
        plan_run(tmp_path / "c", [], "retry", iters=100)


def test_sigterm_checkpoints_records_and_exits_a_real_process(tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "train.iters=60", "train.checkpoint_every=5", "logger=csv", "train.log_every=5"]
    args += [f"+callbacks.pace._target_={__name__}.Pace", "+callbacks.pace.seconds=0.1", f"hydra.run.dir={out}"]
    env = dict(cli_env(), PYTHONPATH=str(REPO))  # the test callbacks are importable
    cmd = [str(Path(sys.executable).with_name("gansweep")), *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "last.ckpt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # a second one while it stops: still one whole checkpoint
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    record = record_of(out)
    assert record["status"] == "interrupted" and 5 <= record["g_iters"] < 60
    checkpoint_g_iters = checkpoint_of(out)[STATE_KEY]["g_iters"]
    assert checkpoint_g_iters == record["g_iters"]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["last.ckpt"]
    assert "Traceback" not in output

    # the same overrides resume it (in this process: a sweep resumed from the shell is the next test)
    train(compose_config(args[:-1], out_dir=out))
    record = record_of(out)
    assert (record["status"], record["g_iters"], record["resumed_from"]) == ("ok", 60, checkpoint_g_iters)
    steps = [int(r["step"]) for r in csv_rows(out / "logs" / "metrics.csv") if r["train/critic"]]
    assert steps == list(range(5, 61, 5))


def test_a_sweep_resumes_with_gansweep_resume(tmp_path):
    """The sweep's own process is stopped (SIGTERM) while its second point is mid-way: the launcher stops that point,
    which checkpoints and records itself as interrupted; gansweep-resume skips the first and continues the second."""
    sweep, marker = tmp_path / "sweep", tmp_path / "mid-way"
    hold = ["+callbacks.hold._target_=tests.helpers.HoldAt", "+callbacks.hold.at=4", "+callbacks.hold.only_point=1"]
    hold += ["+callbacks.hold.point=${seed}", f"+callbacks.hold.marker={marker}"]
    args = ["-m", "seed=0,1", *TINY, "train.iters=8", "train.log_every=2", *hold, f"hydra.sweep.dir={sweep}"]
    env = dict(cli_env(), PYTHONPATH=str(REPO))
    gansweep = str(Path(sys.executable).with_name("gansweep"))
    first = subprocess.Popen([gansweep, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not marker.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    first.send_signal(signal.SIGTERM)
    output = first.communicate(timeout=120)[0].decode()
    assert first.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert f"gansweep-resume {sweep}` finishes the sweep" in output
    assert [record_of(sweep / n)["status"] for n in "01"] == ["ok", "interrupted"]
    done = snapshot(sweep / "0")

    resumed = subprocess.run(
        [str(Path(sys.executable).with_name("gansweep-resume")), str(sweep)],
        cwd=REPO,  # anywhere: it runs from the folder the sweep was launched from
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [(record_of(sweep / n)["status"], record_of(sweep / n)["g_iters"]) for n in "01"] == [("ok", 8), ("ok", 8)]
    assert record_of(sweep / "1")["resumed_from"] == 4
    for n in "01":  # the resumed point's curve continues: each row once
        assert [int(r["step"]) for r in csv_rows(sweep / n / "logs" / "metrics.csv") if r["train/critic"]] == [
            2,
            4,
            6,
            8,
        ]
    ours = {p: s for p, s in snapshot(sweep / "0").items() if ".hydra" not in p.parts and p.suffix != ".log"}
    assert ours == {p: s for p, s in done.items() if ".hydra" not in p.parts and p.suffix != ".log"}
    assert resumed.stdout.rstrip().splitlines()[-1].startswith("gansweep: 2 points: 2 ok, 0 diverged, 0 failed")


def test_gansweep_resume_reads_the_sweep_command_back(tmp_path):
    sweep = tmp_path / "a,b"  # a comma would otherwise make Hydra sweep over two folders
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  runtime:\n    cwd: /somewhere\n  overrides:\n"
        "    hydra: [hydra.sweep.dir=old, hydra/launcher=submitit_slurm, hydra.mode=MULTIRUN]\n"
        "    task: ['+sweep=gp_lr_grid', 'dataset.root=${oc.env:DATA}']\n"
    )
    args, cwd = resume_command(sweep, ["resume.failed=rerun"])
    assert args == [
        "-m",
        "hydra/launcher=submitit_slurm",
        f"hydra.sweep.dir='{sweep.resolve()}'",
        "+sweep=gp_lr_grid",
        "dataset.root=${oc.env:DATA}",
        "resume.failed=rerun",
    ]
    assert cwd == Path("/somewhere")
    with pytest.raises(FileNotFoundError, match="hydra.run.dir"):
        resume_command(tmp_path)


def test_sigusr1_in_a_slurm_job_stops_once_and_reaches_the_previous_handler(tmp_path, monkeypatch):
    slurm = dict(SLURM_NTASKS="1", SLURM_JOB_NAME="gansweep", SLURM_NODELIST="node1", SLURM_JOB_ID="7")
    slurm.update(SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0")
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    (environment,) = cluster_plugins()
    assert environment.auto_requeue is False  # Lightning would otherwise save an hpc checkpoint and requeue itself
    reached = []  # stands for submitit's handler on its preemption signal: it requeues once the point is saved
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: reached.append(signum))
    try:
        stop = [
            "+callbacks.stop._target_=tests.helpers.SignalAt",
            "+callbacks.stop.at=3",
            "+callbacks.stop.signum=SIGUSR1",
        ]
        with pytest.raises(SystemExit) as exit_:
            run([*TINY, "train.iters=10", "logger=none", *stop], tmp_path)
        assert exit_.value.code == 128 + signal.SIGUSR1 and reached == [signal.SIGUSR1]
        record = record_of(tmp_path)
        assert (record["status"], record["g_iters"], checkpoint_of(tmp_path)[STATE_KEY]["g_iters"]) == (
            "interrupted",
            3,
            3,
        )
        assert sorted(p.name for p in tmp_path.rglob("*.ckpt")) == ["last.ckpt"]  # no hpc_ckpt_*.ckpt of Lightning's
    finally:
        signal.signal(signal.SIGUSR1, previous)
    monkeypatch.delenv("SLURM_NTASKS")
    assert cluster_plugins() == []
