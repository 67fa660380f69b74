"""`hydra/launcher=slurm` against a real one-node SLURM (tests/slurm_cluster.py): a 2x2 grid with one point that
raises and one that is preempted mid-run (SIGUSR2, what SLURM sends before a time limit); submitit requeues it and it
ends ok, its generator iterations continuing from the checkpoint. The same grid fused in pairs (hydra.launcher.fuse=2:
two array tasks) leaves the same folders and statuses. Asserts on what the jobs wrote, never on job states.

Where SLURM cannot start, the test fails when GANSWEEP_REQUIRE_SLURM=1 (.ci/run sets it) and is skipped otherwise."""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from omegaconf import open_dict
from submitit.core.utils import UncompletedJobError

from gansweep.launch.outcome import record_stamp
from gansweep.launch.pending import PendingRecords
from gansweep.launch.slurm import Submitted, gather
from gansweep.record import read_record, write_record
from tests.conftest import REPO, cli_env, compose_config, run_cli
from tests.slurm_cluster import SlurmCluster, SlurmUnavailable

pytestmark = pytest.mark.slow  # a real cluster: .ci/run's second step
CLUSTER_LOCK = Path(tempfile.gettempdir()) / "gansweep-test-slurm.lock"  # one test cluster at a time on a machine
REQUIRE_ENV = "GANSWEEP_REQUIRE_SLURM"
TINY = ["arch.hidden=16", "train.batch_size=32", "train.n_critic=2", "metrics.num_samples=200"]
# the test cluster has no GPUs and little memory; one CPU per point runs two points at once on two cores
RESOURCES = ["hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A cluster for the module, once no other test process (an xdist worker) holds one: clusters share munged."""
    with open(CLUSTER_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
        try:
            cluster.start()
        except SlurmUnavailable as err:
            if os.environ.get(REQUIRE_ENV) == "1":
                pytest.fail(f"SLURM could not start ({REQUIRE_ENV}=1): {err}")
            pytest.skip(f"SLURM could not start: {err}. {REQUIRE_ENV}=1 makes this a failure, as in CI")
        try:
            yield cluster
        finally:
            cluster.stop()


class RaiseIn(pl.Callback):
    """At fit start, raises in the grid point whose `point` (${hydra:job.num}, resolved as the point's callbacks are
    built) is `only_point`: one point that fails, alone or inside a fused group (whose fit sees one job number)."""

    def __init__(self, point: Any, only_point: Any) -> None:
        self.point, self.active = point, str(point) == str(only_point)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.active:
            raise RuntimeError(f"point {self.point} fails on purpose")


def wait_for(path: Path, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared (sweep exit code {proc.poll()})")
        time.sleep(0.2)


def array_task(slurm: SlurmCluster, raw_id: str) -> str:
    """The array task `ARRAYID_INDEX` whose own job id (SLURM_JOB_ID) is `raw_id`: the last task's is the array's
    id, which scancel takes for every task of the array."""
    info = slurm.run("scontrol", "show", "job", raw_id)
    array, index = re.search(r"ArrayJobId=(\d+)", info), re.search(r"ArrayTaskId=(\d+)", info)
    return f"{array.group(1)}_{index.group(1)}" if array and index else raw_id


def hurry_requeued(slurm: SlurmCluster, job_id: str, pid: int, timeout_s: float = 120) -> None:
    """SLURM holds a requeued job for about two minutes (its BeginTime); once it waits for that and its first run's
    process `pid` is gone, let it start now. Not earlier: a job started again while its first run is still completing
    is killed ("credential revoked") and held."""
    deadline, requeued = time.monotonic() + timeout_s, False
    while time.monotonic() < deadline:
        info = slurm.run("scontrol", "show", "job", job_id)
        if "JobState=PENDING Reason=BeginTime" in info and not _alive(pid):
            time.sleep(1.0)  # slurmstepd's epilog follows the process
            slurm.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
            return
        requeued = requeued or "JobState=PENDING" in info or "JobState=COMPLETING" in info
        if requeued and "JobState=RUNNING" in info:  # started again by itself (no BeginTime hold)
            return
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} was not requeued within {timeout_s:.0f} s\n{slurm.diagnostics()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def finish(proc: subprocess.Popen, slurm: SlurmCluster, job_id: str, timeout_s: float) -> str:
    """The sweep's output once it exits; a requeued job SLURM held instead of starting is released once. On timeout,
    fails with the sweep's output and the cluster's state and logs."""
    deadline, released = time.monotonic() + timeout_s, False
    while proc.poll() is None and time.monotonic() < deadline:
        info = slurm.run("scontrol", "show", "job", job_id)
        if not released and "JobState=PENDING" in info and "held" in info.lower():
            slurm.run("scontrol", "release", job_id)
            released = True
        time.sleep(1.0)
    if proc.poll() is None:
        proc.kill()
        output = proc.communicate()[0]
        raise AssertionError(f"the sweep did not end in {timeout_s:.0f} s\n{output[-3000:]}\n{slurm.diagnostics()}")
    return proc.communicate()[0]


def steps(run_dir: Path) -> list:
    with open(run_dir / "logs" / "metrics.csv") as fh:
        return [int(row["step"]) for row in csv.DictReader(fh) if row.get("train/critic")]


@pytest.mark.parametrize("fuse", [1, 2], ids=["a task per point", "fused in pairs"])
def test_a_grid_runs_on_slurm_survives_a_failing_point_and_a_preempted_one_resumes(slurm, tmp_path, fuse):
    """fuse=2: the four points (seeds x lrs, all fusible) go as two array tasks of two; each point still leaves its own
    folder and record, with the statuses of the unfused sweep, and the preempted group resumes both its points."""
    sweep, marker = tmp_path / "sweep", tmp_path / "held"
    hold = ["+callbacks.hold._target_=tests.helpers.HoldAt", "+callbacks.hold.at=4", f"+callbacks.hold.marker={marker}"]
    hold += ["+callbacks.hold.point=${hydra:job.num}", "+callbacks.hold.only_point=2"]
    fault = ["+callbacks.fault._target_=tests.test_slurm.RaiseIn", "+callbacks.fault.only_point=1"]
    fault += ["+callbacks.fault.point=${hydra:job.num}"]
    grid = ["seed=0,1", "optim.lr=1e-4,2e-4", "train.iters=8", "train.log_every=2"]
    args = ["-m", "hydra/launcher=slurm", *RESOURCES, *grid, *TINY, *hold, *fault, f"hydra.sweep.dir={sweep}"]
    args.append(f"hydra.launcher.fuse={fuse}")
    env = dict(slurm.env, **{k: v for k, v in cli_env().items() if k != "SLURM_CONF"})
    env.update(PYTHONPATH=str(REPO))
    gansweep = str(Path(sys.executable).with_name("gansweep"))
    proc = subprocess.Popen(
        [gansweep, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(marker, proc, timeout_s=240)  # point 2 is mid-way, inside its SLURM job
        held = json.loads(marker.read_text())
        assert held["slurm_job_id"], "the held point did not run inside a SLURM job"
        job_id = array_task(slurm, held["slurm_job_id"])
        slurm.run("scancel", "--signal=USR2", job_id)  # preemption notice: checkpoint, record, submitit requeues
        hurry_requeued(slurm, job_id, held["pid"])
        output = finish(proc, slurm, job_id, timeout_s=420)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["scancel", "--user=root"], env=slurm.env, timeout=30)  # nothing left for the next test

    assert proc.returncode == 0, output[-4000:]
    records = {n: json.loads((sweep / n / "metrics.json").read_text()) for n in "0123"}
    assert {n: r["status"] for n, r in records.items()} == {"0": "ok", "1": "failed", "2": "ok", "3": "ok"}
    assert "RuntimeError: point 1 fails on purpose" in records["1"]["error"]
    for n in "023":
        assert records[n]["g_iters"] == 8 and records[n]["metrics"]["energy_distance"] > 0
        assert (sweep / n / "checkpoints" / "last.ckpt").is_file()
    for n in "0123":
        assert (sweep / n / ".hydra" / "overrides.yaml").is_file()
    assert records["2"]["resumed_from"] == 4  # requeued: continued from its checkpoint, not from scratch
    # fused, its group's partner was stopped and requeued with it, and resumed from its own checkpoint
    assert records["3"]["resumed_from"] == (4 if fuse == 2 else None)
    assert records["0"]["resumed_from"] is None
    assert steps(sweep / "2") == [2, 4, 6, 8] == steps(sweep / "0") == steps(sweep / "3")  # each curve row once
    tasks = [task for task in (sweep / ".submitit").iterdir() if any(task.glob("*_result.pkl"))]
    assert len(tasks) == 4 // fuse  # submitted through submitit, one array task per point or per group
    fused = [f"fused: #{a}, #{b} train as one model" in output for a, b in ((0, 1), (2, 3))]
    assert fused == [fuse > 1] * 2
    assert output.rstrip().splitlines()[-1].startswith("gansweep: 4 points: 3 ok, 0 diverged, 1 failed")


def test_slurm_resources_reach_sbatch(slurm, tmp_path):
    """gansweep's defaults and the user's settings end up in the sbatch script submitit writes."""
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=slurm", *RESOURCES, "seed=0", *TINY, "train.iters=1", "logger=none"]
    args += ["hydra.launcher.partition=debug", "hydra.launcher.timeout_min=7", f"hydra.sweep.dir={sweep}"]
    env = dict(slurm.env, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("gansweep")), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert json.loads((sweep / "0" / "metrics.json").read_text())["status"] == "ok"
    script = next((sweep / ".submitit").rglob("*_submission.sh")).read_text()
    for line in ("--partition=debug", "--time=7", "--cpus-per-task=1", "--ntasks-per-node=1", "--signal=USR2@120"):
        assert line in script
    assert "--gpus-per-node" not in script and "--mem=1GB" in script


def test_without_submitit_the_launcher_says_what_to_install():
    code = (
        "import sys; sys.modules['hydra_plugins.hydra_submitit_launcher.submitit_launcher'] = None\n"
        "from hydra_plugins.gansweep_launcher.slurm import GansweepSlurmLauncher\n"
        "GansweepSlurmLauncher(partition='x')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and 'pip install "gansweep[slurm]"' in proc.stderr


class LostJob:
    """A submitit job that ended without a result, as an out-of-memory kill or a refused requeue leaves it."""

    job_id = "7_1"
    paths = SimpleNamespace(stdout=Path("/cluster/.submitit/7_1/7_1_0_log.out"))

    def results(self) -> list:
        raise UncompletedJobError("Job 7_1 (task: 0) has not produced any output (state: OUT_OF_MEMORY)\nmore")


def gather_lost(run_dirs: list, stamps: list, overrides: list) -> tuple:
    """gather() on a LostJob, for the points of `overrides` (one list each, in `run_dirs`) with their full configs
    (task keys and hydra), as composed."""
    points = []
    for run_dir, stamp, point_overrides in zip(run_dirs, stamps, overrides, strict=True):
        config = compose_config(point_overrides, out_dir=run_dir, multirun=True)
        with open_dict(config):
            config.hydra = HydraConfig.instance().cfg.hydra
        points.append(Submitted(config, run_dir, stamp))
    ended: list = []
    callbacks = SimpleNamespace(on_job_end=lambda config, job_return: ended.append(job_return))
    return gather(LostJob(), points, callbacks, PendingRecords()), ended


def test_a_job_lost_without_a_result_is_recorded_as_failed(tmp_path):
    (job_return,), ended = gather_lost([tmp_path], [record_stamp(tmp_path)], [["seed=3"]])
    assert job_return.status == JobStatus.COMPLETED and job_return.return_value == math.inf and ended == [job_return]
    record = read_record(tmp_path)
    assert record is not None and record["status"] == "failed" and record["seed"] == 3
    assert record["error"].startswith("SLURM job 7_1 ended without a result (UncompletedJobError: Job 7_1 (task: 0)")
    assert record["log"] == "/cluster/.submitit/7_1/7_1_0_log.out" and record["log"] in record["error"]


def test_a_lost_fused_task_records_each_of_its_points_that_has_no_record(tmp_path):
    """A group's task that died: a failed record naming the SLURM log for each point without one of this attempt's;
    a point that recorded itself (interrupted before a requeue that was refused) keeps its record. One JobReturn per
    point, in order, each told to Hydra's callbacks."""
    dirs = [tmp_path / str(n) for n in range(3)]
    for run_dir in dirs:
        run_dir.mkdir()
    stamps = [record_stamp(run_dir) for run_dir in dirs]
    interrupted = {"status": "interrupted", "g_iters": 4, "metrics": {}, "overrides": []}
    write_record(dirs[1], interrupted)  # during the task, after the launcher took its stamp
    returns, ended = gather_lost(dirs, stamps, [[f"seed={n}"] for n in range(3)])
    assert ended == returns and [r.return_value for r in returns] == [math.inf] * 3
    assert [r.overrides for r in returns] == [[f"seed={n}"] for n in range(3)]
    assert read_record(dirs[1]) == interrupted
    for n in (0, 2):
        record = read_record(dirs[n])
        assert record is not None and (record["status"], record["seed"]) == ("failed", n)
        assert record["error"].startswith("SLURM job 7_1 (a fused group of 3 points) ended without a result")
        assert record["log"] == "/cluster/.submitit/7_1/7_1_0_log.out" and record["log"] in record["error"]


@pytest.mark.parametrize("status", ["interrupted", "ok"])
def test_a_lost_job_never_replaces_what_the_point_recorded(tmp_path, status):
    """interrupted: the point recorded itself before submitit refused to requeue it; ok: an earlier attempt finished
    and this one (skipping it) was lost."""
    before = {"status": status, "g_iters": 4, "metrics": {}, "overrides": []}
    stamp = record_stamp(tmp_path)
    if status == "ok":
        write_record(tmp_path, before)
        stamp = record_stamp(tmp_path)
    else:
        write_record(tmp_path, before)  # written during the job, after the launcher took its stamp
    gather_lost([tmp_path], [stamp], [[]])
    assert read_record(tmp_path) == before


def test_hydra_submitit_local_launcher_still_records_every_point(tmp_path):
    """Isolation and records live in the task, so Hydra's other launchers keep them: a raising point is recorded."""
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=submitit_local", "seed=0,1", *TINY, "train.iters=2", "logger=none"]
    args += ["+callbacks.fault._target_=tests.helpers.Fault", f"hydra.sweep.dir={sweep}"]
    env = dict(cli_env(), PYTHONPATH=str(REPO), GANSWEEP_TEST_FAULTS="1:raise")
    proc = run_cli(args, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    statuses = [json.loads((sweep / n / "metrics.json").read_text())["status"] for n in "01"]
    assert statuses == ["ok", "failed"]
