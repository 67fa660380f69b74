"""Results a researcher can trust, tried from the shell as an adversarial user would: two sweeps into one folder, the
launcher killed then resumed at once, a config edited between attempts, a truncated checkpoint, a full disk, Ctrl-C
and bad values. Each asserts what the user sees and that no earlier result changed (records and curves byte for
byte)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest

from gansweep.launch.pending import PendingRecords
from gansweep.lock import FolderBusy, hold, holder_of
from tests.conftest import REPO, cli_env, run_cli

TINY = ["arch.hidden=16", "train.batch_size=32", "train.n_critic=1", "metrics.num_samples=200", "logger=csv"]
HOLD = "+callbacks.hold._target_=tests.helpers.HoldAt"  # a point that waits mid-way for a stop signal


def env() -> Dict[str, str]:
    """The CLI's environment with tests/ importable, no GPU, one thread per process (several CLIs run at once)."""
    return dict(cli_env(), PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")


def gansweep() -> str:
    return str(Path(sys.executable).with_name("gansweep"))


def start(args, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [gansweep(), *args], cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def resume(sweep: Path, *extra: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).with_name("gansweep-resume")), str(sweep), *extra]
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)


def wait_for(path: Path, timeout: float = 120) -> Dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)
    time.sleep(0.1)
    return json.loads(path.read_text())


def digest(sweep: Path) -> Dict[str, str]:
    """Every point's metrics.json and curves, byte for byte."""
    files = [*sweep.glob("*/metrics.json"), *sweep.glob("*/logs/metrics.csv")]
    return {str(p.relative_to(sweep)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def statuses(sweep: Path) -> Dict[str, str]:
    return {p.parent.name: json.loads(p.read_text())["status"] for p in sweep.glob("*/metrics.json")}


def one_line_error(proc) -> str:
    """A refusal the user can act on: exit 1, no traceback, one `Error:` line (plus its listed points)."""
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    return line


# --- the lock itself -----------------------------------------------------------------------------------------------


def test_a_folder_lock_names_its_holder_and_dies_with_it(tmp_path):
    code = (
        "import sys, time; from gansweep.lock import hold; hold(sys.argv[1], 'a test holder'); "
        "print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderBusy, match=rf"pid {holder.pid} on .*a test holder"):
        hold(tmp_path, "me")
    assert holder_of(tmp_path)["pid"] == holder.pid
    holder.kill()  # however it dies, the kernel drops the lock
    holder.wait()
    lock = hold(tmp_path, "me")
    assert holder_of(tmp_path)["pid"] == os.getpid()  # (reading the file here would drop a POSIX lock)
    assert hold(tmp_path, "me again") is lock  # re-entrant in one process
    lock.release()
    lock.release()
    assert holder_of(tmp_path) is None


def test_a_record_that_cannot_be_written_is_kept_and_written_later(tmp_path):
    pending = PendingRecords()
    blocked = tmp_path / "point"
    blocked.write_text("a file where the run folder should be")  # any write under it fails
    record = {"status": "ok", "metrics": {"energy_distance": 0.5}}
    pending.write(blocked, record)
    assert pending.status(blocked) == "ok" and "point: ok" in pending.unwritten()[0]
    pending.retry()
    assert pending.records  # still failing: still kept
    blocked.unlink()
    blocked.mkdir()
    pending.retry()
    assert not pending.records and json.loads((blocked / "metrics.json").read_text())["status"] == "ok"


# --- 1. two sweeps, one folder -------------------------------------------------------------------------------------


def test_a_second_sweep_into_a_live_or_foreign_folder_is_refused_and_changes_nothing(tmp_path):
    sweep = tmp_path / "sweep"
    marker = tmp_path / "held.json"
    first_args = ["-m", "seed=0,1", *TINY, "train.iters=4", f"hydra.sweep.dir={sweep}"]
    hold_args = [HOLD, "+callbacks.hold.at=2", f"+callbacks.hold.marker={marker}"]
    first = start([*first_args, *hold_args], tmp_path)
    wait_for(marker)  # point 0 is mid-way, its sweep holds the folder
    saved = (sweep / "multirun.yaml").read_bytes()
    second = run_cli(["-m", "seed=5,6", *TINY, "train.iters=4", f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    line = one_line_error(second)
    assert f"is being written by another sweep: pid {first.pid}" in line and "seed=0,1" in line
    assert (sweep / "multirun.yaml").read_bytes() == saved  # refused before Hydra's sweeper wrote its own
    os.kill(json.loads(marker.read_text())["pid"], signal.SIGTERM)  # point 0 stops, the sweep goes on
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out[-2000:] + err[-2000:]
    assert statuses(sweep) == {"0": "interrupted", "1": "ok"}
    before = digest(sweep)
    # finished: another grid into the folder is refused, the same command resumes it
    again = run_cli(["-m", "seed=5,6", *TINY, "train.iters=4", f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    assert "holds the points of another sweep (seed=0,1" in one_line_error(again)
    assert (sweep / "multirun.yaml").read_bytes() == saved and digest(sweep) == before
    done = resume(sweep, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert statuses(sweep) == {"0": "ok", "1": "ok"}
    assert digest(sweep)["1/metrics.json"] == before["1/metrics.json"]  # the finished point was not touched
    assert "#1 skipped" in done.stderr + done.stdout


# --- 2. the launcher killed, then an immediate resume --------------------------------------------------------------


def test_points_die_with_their_launcher_and_an_immediate_resume_trains_each_step_once(tmp_path):
    sweep = tmp_path / "sweep"
    marker = tmp_path / "held.json"
    args = ["-m", "seed=0", *TINY, "train.iters=6", f"hydra.sweep.dir={sweep}"]
    launcher = start([*args, HOLD, "+callbacks.hold.at=3", f"+callbacks.hold.marker={marker}"], tmp_path)
    point_pid = wait_for(marker)["pid"]
    launcher.kill()  # SIGKILL: no handler runs in the launcher
    launcher.communicate(timeout=60)
    deadline = time.monotonic() + 60  # the point sees its lifeline close: checkpoint, record, exit
    while _alive(point_pid):
        assert time.monotonic() < deadline, "the point trains on as an orphan"
        time.sleep(0.1)
    record = json.loads((sweep / "0" / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["g_iters"] == 3
    done = resume(sweep, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert statuses(sweep) == {"0": "ok"}
    steps = [line.split(",") for line in (sweep / "0" / "logs" / "metrics.csv").read_text().splitlines()[1:]]
    header = (sweep / "0" / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    critic_steps = [int(row[header.index("step")]) for row in steps if row[header.index("train/critic")]]
    assert critic_steps == sorted(set(critic_steps)), "a step was trained twice, or the curve jumps back"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


# --- 3. a config edited between attempts ---------------------------------------------------------------------------


def test_a_resume_on_an_edited_config_is_refused_naming_the_keys_until_asked_to_start_afresh(tmp_path):
    configs = tmp_path / "configs" / "experiment"
    configs.mkdir(parents=True)
    mine = configs / "mine.yaml"
    mine.write_text("# @package _global_\noptim:\n  lr: 1.0e-4\nconstraint:\n  gp:\n    weight: 0.1\n")
    sweep = tmp_path / "sweep"
    args = ["-cd", str(tmp_path / "configs"), "-m", "experiment=mine", "seed=0,1", *TINY, "train.iters=3"]
    first = run_cli([*args, f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    assert first.returncode == 0, first.stderr[-3000:]
    before, saved = digest(sweep), (sweep / "multirun.yaml").read_bytes()
    before_records = {point: (sweep / point / "metrics.json").read_text() for point in ("0", "1")}
    mine.write_text("# @package _global_\noptim:\n  lr: 1.0e-2\nconstraint:\n  gp:\n    weight: 10\n")
    edited = run_cli([*args, f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    one_line_error(edited)
    assert "2 point(s) of this sweep folder cannot be continued" in edited.stderr
    assert "optim.lr: 0.0001 -> 0.01" in edited.stderr and "constraint.gp.weight: 0.1 -> 10" in edited.stderr
    assert "resume.changed=fresh" in edited.stderr
    assert digest(sweep) == before and (sweep / "multirun.yaml").read_bytes() == saved  # nothing trained or written
    # an added override is another sweep: refused at once, and gansweep-resume still finds the sweep's own command
    added = run_cli([*args, "train.batch_size=16", f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    assert "holds the points of another sweep" in one_line_error(added)
    assert (sweep / "multirun.yaml").read_bytes() == saved
    fresh = resume(sweep, "resume.changed=fresh", cwd=tmp_path)  # the sweep's own command, its -cd included
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert statuses(sweep) == {"0": "ok", "1": "ok"}
    for point in ("0", "1"):  # the old result kept beside the new one, named with the old config's hash
        old = json.loads(before_records[point])
        kept = sweep / point / f"metrics.replaced-{old['config_hash']}.json"
        assert kept.read_text() == before_records[point]
        assert old["config_hash"] != json.loads((sweep / point / "metrics.json").read_text())["config_hash"]
        assert (sweep / point / "checkpoints" / f"replaced-{old['config_hash']}.ckpt").is_file()
        assert (sweep / point / "logs" / f"metrics.replaced-{old['config_hash']}.csv").is_file()


def test_a_checkpoint_of_another_config_without_a_record_is_refused_by_its_point_and_left_untouched(tmp_path):
    """The launcher reads records only: a folder with a checkpoint and no record (its process killed with the
    launcher) is refused by the point's own process, which names the keys; the launcher writes nothing into it."""
    configs = tmp_path / "configs" / "experiment"
    configs.mkdir(parents=True)
    (configs / "mine.yaml").write_text("# @package _global_\noptim:\n  lr: 1.0e-4\n")
    sweep = tmp_path / "sweep"
    args = ["-cd", str(tmp_path / "configs"), "-m", "experiment=mine", "seed=0", *TINY, "train.iters=3"]
    assert run_cli([*args, f"hydra.sweep.dir={sweep}"], tmp_path, env=env()).returncode == 0
    (sweep / "0" / "metrics.json").unlink()
    kept = digest(sweep)
    (configs / "mine.yaml").write_text("# @package _global_\noptim:\n  lr: 1.0e-3\n")
    refused = run_cli([*args, f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    out = refused.stdout + refused.stderr
    assert "#0 refused" in out and "optim.lr: 0.0001 -> 0.001" in out, out[-3000:]
    assert not (sweep / "0" / "metrics.json").exists() and digest(sweep) == kept
    (configs / "mine.yaml").write_text("# @package _global_\noptim:\n  lr: 1.0e-4\n")  # restored: it goes on
    assert run_cli([*args, f"hydra.sweep.dir={sweep}"], tmp_path, env=env()).returncode == 0
    assert statuses(sweep) == {"0": "ok"}


# --- 4. a truncated checkpoint -------------------------------------------------------------------------------------


def test_a_truncated_checkpoint_is_named_recorded_failed_and_rerun_on_request(tmp_path):
    sweep = tmp_path / "sweep"
    first = run_cli(["-m", "seed=0", *TINY, "train.iters=4", f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    assert first.returncode == 0, first.stderr[-3000:]
    record_path = sweep / "0" / "metrics.json"  # as a point stopped mid-way leaves it, with a cut checkpoint
    record_path.write_text(json.dumps(dict(json.loads(record_path.read_text()), status="interrupted", g_iters=2)))
    checkpoint = sweep / "0" / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    again = resume(sweep, cwd=tmp_path)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr[-3000:]
    record = json.loads((sweep / "0" / "metrics.json").read_text())
    assert record["status"] == "failed"
    assert f"the checkpoint {checkpoint} (1000 bytes) cannot be read" in record["error"]
    assert "resume.failed=rerun" in record["error"] and "#0 failed" in again.stderr + again.stdout
    rerun = resume(sweep, "resume.failed=rerun", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert statuses(sweep) == {"0": "ok"}


# --- 5. a full disk ------------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here (needs root and mount rights): {made.stderr!r}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_never_takes_the_launcher_down(tmp_path, small_disk):
    sweep = small_disk / "sweep"
    filler = small_disk / "filler"
    fill = ["+callbacks.fill._target_=tests.helpers.FillDisk", f"+callbacks.fill.path={filler}"]
    fill += ["+callbacks.fill.point=${seed}", "+callbacks.fill.only_point=0"]
    args = ["-m", "seed=0,1", *TINY, "train.iters=3", f"hydra.sweep.dir={sweep}"]
    full = run_cli([*args, *fill], tmp_path, env=env())
    assert full.returncode == 1, full.stdout[-2000:] + full.stderr[-2000:]
    out = full.stdout + full.stderr
    assert "record(s) could not be written; where those points stand" in out
    assert f"{sweep / '0'}: ok" in out  # the point's own record, kept in the launcher's memory
    assert "#1 failed" in out  # the next point was still started (and could not write either)
    assert not list(sweep.rglob("*.tmp")), "a half-written file was left behind"
    filler.unlink()  # room again: the same sweep finishes
    done = resume(sweep, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert statuses(sweep) == {"0": "ok", "1": "ok"}


# --- 6. Ctrl-C -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("multirun", [True, False], ids=["sweep", "single run"])
def test_ctrl_c_checkpoints_records_interrupted_and_exits_130(tmp_path, multirun):
    out = tmp_path / "out"
    marker = tmp_path / "held.json"
    where = ["-m", "seed=0", f"hydra.sweep.dir={out}"] if multirun else [f"hydra.run.dir={out}"]
    args = [*where, *TINY, "train.iters=6", HOLD, "+callbacks.hold.at=3", f"+callbacks.hold.marker={marker}"]
    # its own process group, with SIGINT's default disposition, as a terminal's foreground job (a test run started in
    # the background inherits SIGINT ignored, which a process rightly keeps ignoring)
    proc = start(args, tmp_path, start_new_session=True, preexec_fn=_default_sigint)
    wait_for(marker)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: SIGINT to every process of the group
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr
    run_dir = out / "0" if multirun else out
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["g_iters"] == 3
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --- 8. bad values -------------------------------------------------------------------------------------------------


NAN_WEIGHT = "constraint.gp.weight is nan: a config value must be a finite number"


@pytest.mark.parametrize(
    "value, says",
    [("constraint.gp.weight=nan", NAN_WEIGHT), ("seed=-5", "seed must be an integer in 0 .. 2**32 - 1")],
)  # fmt: skip
def test_a_bad_value_is_one_line_and_never_a_divergence(tmp_path, value, says):
    single = run_cli([*TINY, "train.iters=2", value, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, env=env())
    assert says in one_line_error(single)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "failed" and says in record["error"]


@pytest.mark.parametrize(
    "grid, says",
    [(["constraint.gp.weight=nan,10", "train.iters=2"], NAN_WEIGHT),
     (["train.iters=0,2"], "train.iters must be >= 1, got 0"),  # the key at fault is swept: not every point's
     (["loss=wgan,nsgan", "++loss.critic_terms=mean", "train.iters=2"],  # its group is swept: the wgan point's only
      "loss.critic_terms is not a keyword of gansweep.losses.wgan.WGANLoss")],
)  # fmt: skip
def test_a_bad_grid_value_fails_its_point_without_a_process_and_the_others_run(tmp_path, grid, says):
    sweep = tmp_path / "sweep"
    swept = run_cli(["-m", *grid, *TINY, f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert statuses(sweep) == {"0": "failed", "1": "ok"}
    assert not (sweep / "0" / "console.log").exists()  # never started
    assert says in json.loads((sweep / "0" / "metrics.json").read_text())["error"]
    assert f"#0 failed before it started: {says}" in swept.stderr + swept.stdout


def test_an_error_every_point_shares_stops_the_sweep_before_anything_trains(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "seed=0,1,2", *TINY, "train.iters=0", f"hydra.sweep.dir={sweep}"], tmp_path, env=env())
    line = one_line_error(proc)
    assert "every point of this sweep fails before it starts: train.iters must be >= 1, got 0" in line
    assert "No point was started" in proc.stderr
    assert not list(sweep.rglob("metrics.json")) and not list(sweep.rglob("console.log"))


def test_a_corrupt_dataset_file_is_named_before_anything_trains(tmp_path):
    root = tmp_path / "cifar"
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (batches / name).write_bytes(b"this is not a pickle")
    args = ["-m", "seed=0,1", "dataset=cifar10", f"dataset.root={root}", "dataset.download=false", "debug=smoke"]
    proc = run_cli([*args, f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path, env=env())
    line = one_line_error(proc)
    assert str(batches / "data_batch_1") in line


def test_hydra_full_error_still_shows_the_traceback(tmp_path):
    args = [*TINY, "train.iters=2", "seed=-5", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(
        [gansweep(), *args], cwd=tmp_path, env=dict(env(), HYDRA_FULL_ERROR="1"), capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "ConfigError: seed must be" in proc.stderr
