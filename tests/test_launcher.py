"""gansweep's local launcher: its pure parts (plan, leases, GPU discovery, exits, progress), then real sweeps from the
shell with points that raise, diverge and die hard, and GPU leases under a simulated GPU count."""

import json
import subprocess
import sys
from itertools import combinations

import pytest

from gansweep.launch.gpus import parse_nvidia_smi, parse_visible_devices, visible_gpus
from gansweep.launch.leases import Leases
from gansweep.launch.outcome import describe_exit
from gansweep.launch.plan import plan_launch
from gansweep.launch.progress import Progress
from gansweep.launch.warm import gansweep_modules
from tests.conftest import REPO, cli_env, run_cli

TINY = ["arch.hidden=16", "train.iters=1", "train.batch_size=32", "metrics.num_samples=200", "logger=none"]
SETTINGS = {"workers": 1, "jobs_per_gpu": 1, "gpus": None, "preload": ["torch"]}


def env_with(**extra):
    """The CLI's environment with tests/ importable (the helpers are given by config) and no GPU visible."""
    return dict(cli_env(), PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="", **extra)


def records(sweep):
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")}


# --- pure parts -----------------------------------------------------------------------------------------------


def test_concurrency_is_gpus_times_jobs_per_gpu_or_workers_without_gpus():
    plan = plan_launch(dict(SETTINGS, jobs_per_gpu=2), ["0", "3"])
    assert (plan.devices, plan.concurrency, plan.simulated) == (["0", "3"], 4, False)
    plan = plan_launch(dict(SETTINGS, workers=3), [])
    assert (plan.devices, plan.concurrency) == ([None], 3)  # CUDA_VISIBLE_DEVICES left as it is
    assert plan_launch(dict(SETTINGS, gpus=0, workers=2), ["0"]).devices == [""]  # GPUs hidden from the points
    assert plan_launch(dict(SETTINGS, gpus=1), ["2", "5"]).devices == ["2"]
    simulated = plan_launch(dict(SETTINGS, gpus=4), [])
    assert (simulated.devices, simulated.simulated) == (["0", "1", "2", "3"], True)


@pytest.mark.parametrize(
    "change, key",
    [({"workers": 0}, "hydra.launcher.workers"), ({"jobs_per_gpu": "2"}, "hydra.launcher.jobs_per_gpu"),
     ({"gpus": -1}, "hydra.launcher.gpus"), ({"gpus": 3}, "hydra.launcher.gpus")],
)  # fmt: skip
def test_a_wrong_setting_names_the_key_to_change(change, key):
    with pytest.raises(ValueError, match=key):
        plan_launch(dict(SETTINGS, **change), ["0", "1"])


def test_leases_go_to_the_least_busy_gpu_and_free_at_once():
    leases = Leases(["0", "1"], per_device=2)
    assert [leases.acquire() for _ in range(3)] == ["0", "1", "0"]
    assert leases.free == 1
    leases.release("0")
    leases.release("0")  # GPU 0 free at once, while GPU 1 still runs a point
    assert [leases.acquire() for _ in range(3)] == ["0", "0", "1"] and leases.free == 0
    with pytest.raises(RuntimeError, match="no free lease"):
        leases.acquire()
    with pytest.raises(RuntimeError, match="not held"):
        Leases(["0"], 1).release("0")


def test_visible_gpus_read_as_cuda_reads_them():
    assert parse_visible_devices("0, 2") == ["0", "2"]
    assert parse_visible_devices("") == [] and parse_visible_devices("-1") == []
    assert parse_visible_devices("1,-1,2") == ["1"]  # CUDA stops at the first invalid entry
    assert parse_visible_devices("GPU-8f6c,MIG-2b1e/1/0") == ["GPU-8f6c", "MIG-2b1e/1/0"]
    listing = (
        "GPU 0: NVIDIA H100 (UUID: GPU-a)\n  MIG 1g.10gb Device 0: (UUID: MIG-b)\nGPU 1: NVIDIA H100 (UUID: GPU-c)\n"
    )
    assert parse_nvidia_smi(listing) == ["0", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "3"}) == ["3"]  # an existing setting wins over nvidia-smi


def test_exits_are_described_with_signal_names_or_codes():
    assert describe_exit(-9) == ("was killed by SIGKILL (signal 9)", {"exit_signal": "SIGKILL"})
    assert describe_exit(-11)[1] == {"exit_signal": "SIGSEGV"}
    assert describe_exit(3) == ("exited with code 3", {"exit_code": 3})


def test_progress_counts_and_eta():
    now = [0.0]
    progress = Progress(4, clock=lambda: now[0])
    now[0] = 10.0
    line = progress.finished(1, "failed", 9.5, "seed=1", running=2)
    counts = "1/4 done, 1 failed, 0 diverged, 2 running, 1 left"
    assert line == f"#1 failed (9.5 s) seed=1 | {counts} | elapsed 0:00:10, ETA 0:00:30"
    now[0] = 20.0
    line = progress.finished(0, "ok", 20.0, "seed=0", running=1)
    assert line.endswith("2/4 done, 1 failed, 0 diverged, 1 running, 1 left | elapsed 0:00:20, ETA 0:00:20")


def test_the_warm_parent_preloads_the_task_but_never_the_cli_entry_point():
    modules = gansweep_modules()
    assert {"gansweep", "gansweep.run.task", "gansweep.model.module", "gansweep.launch.child"} <= set(modules)
    assert not any(m.endswith("__main__") for m in modules)


def test_launching_imports_no_torch_in_the_parent():
    """The parent forks nothing itself, but a parent that imports torch pays seconds and risks a CUDA init."""
    code = "import sys, gansweep.launch.local, hydra_plugins.gansweep_launcher.launcher; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


# --- real sweeps from the shell -------------------------------------------------------------------------------


def test_points_that_raise_diverge_or_are_killed_are_recorded_and_the_sweep_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    grid = ["optim.lr=1e-4,1e6", "seed=0,1"]  # jobs: 0 (1e-4, 0), 1 (1e-4, 1), 2 (1e6, 0), 3 (1e6, 1)
    hooks = [
        "+callbacks.fault._target_=tests.helpers.Fault",
        "+hydra.callbacks.events._target_=tests.helpers.RecordJobEvents",
    ]
    args = ["-m", *grid, *TINY, *hooks, "hydra.launcher.workers=2", f"hydra.sweep.dir={sweep}"]
    proc = run_cli(args, cwd=tmp_path, env=env_with(GANSWEEP_TEST_FAULTS="1:raise,3:sigkill"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    recs = records(sweep)
    assert {run: rec["status"] for run, rec in recs.items()} == {
        "0": "ok",
        "1": "failed",
        "2": "diverged",
        "3": "failed",
    }
    assert recs["0"]["g_iters"] == 1 and recs["0"]["error"] is None
    assert recs["1"]["error"] == "RuntimeError: test fault raised on purpose"  # recorded by the task itself
    assert recs["2"]["error"] == "non-finite loss at generator iteration 1"  # a real divergence: lr 1e6
    killed = recs["3"]
    assert killed["exit_signal"] == "SIGKILL" and "killed by SIGKILL" in killed["error"]
    assert killed["log"] == str(sweep / "3" / "console.log") and killed["log"] in killed["error"]
    assert killed["overrides"][:2] == ["optim.lr=1000000.0", "seed=1"] and killed["seed"] == 1
    assert "test fault: sigkill" in (sweep / "3" / "console.log").read_text()  # raw output kept, line by line
    # Hydra's callbacks: every job started in its process; every job ended, the killed one reported by the parent
    events = (sweep / "job_events.txt").read_text().splitlines()
    assert sorted(e for e in events if e.startswith("start")) == ["start 0", "start 1", "start 2", "start 3"]
    ends = {e.split()[1]: e.split()[2:] for e in events if e.startswith("end")}
    assert ends["3"] == ["COMPLETED", "inf"] and ends["0"][0] == "COMPLETED" and float(ends["0"][1]) > 0
    lines = proc.stdout.strip().splitlines()
    assert sum("4/4 done, 2 failed, 1 diverged, 0 running, 0 left" in line for line in lines) == 1
    assert sum(" done, " in line and "| elapsed" in line for line in lines) == 4  # one progress line per point
    assert "optim.lr=1000000.0 seed=1" in proc.stdout  # the table, printed after the sweep
    report = (sweep / "report.md").read_text()
    assert (
        "1 diverged, 2 failed" in report and "test fault raised on purpose" in report and "killed by SIGKILL" in report
    )
    assert (sweep / "heatmap.png").is_file() and (sweep / "report.csv").is_file()
    errors = "1/metrics.json, 2/metrics.json, 3/metrics.json"
    assert lines[-1].startswith(f"gansweep: 4 points: 1 ok, 1 diverged, 2 failed; errors in {errors} under {sweep};")


def test_a_segfault_and_an_exit_are_recorded_and_a_finished_record_is_kept(tmp_path):
    sweep = tmp_path / "sweep"
    hooks = [
        "callbacks=none",
        "+callbacks.fault._target_=tests.helpers.Fault",
        "+hydra.callbacks.exit._target_=tests.helpers.ExitAfterRecord",
    ]
    args = ["-m", "seed=0,1,2", *TINY, *hooks, "hydra.launcher.workers=2", f"hydra.sweep.dir={sweep}"]
    env = env_with(GANSWEEP_TEST_FAULTS="0:segfault,1:exit", GANSWEEP_TEST_EXIT_AFTER="2:exit")
    proc = run_cli(args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    recs = records(sweep)
    assert recs["0"]["status"] == "failed" and recs["0"]["exit_signal"] == "SIGSEGV"
    console = (sweep / "0" / "console.log").read_text()
    assert "test fault: segfault" in console and "Segmentation fault" in console  # faulthandler's stack
    assert (
        recs["1"]["status"] == "failed" and recs["1"]["exit_code"] == 3 and "exited with code 3" in recs["1"]["error"]
    )
    # point 2 wrote its own record, then its process died: the record stands as the point wrote it
    assert recs["2"]["status"] == "ok" and recs["2"]["g_iters"] == 1 and "exit_code" not in recs["2"]
    exits = {json.loads(line)["job"]: json.loads(line)["exitcode"] for line in (sweep / "jobs.jsonl").open()}
    assert exits == {0: -11, 1: 3, 2: 3}
    assert proc.stdout.strip().splitlines()[-1].startswith("gansweep: 3 points: 1 ok, 0 diverged, 2 failed")


def test_each_gpu_runs_one_point_at_a_time_and_never_idles_while_points_wait(tmp_path):
    """Two simulated GPUs; point 0 holds its GPU for 4 s while four short points must all pass through the other."""
    sweep, slack = tmp_path / "sweep", 2.0  # slack: seconds to settle one point and start the next
    hold = ["+callbacks.lease.seconds=4.0,0.0,0.1,0.2,0.3", "+callbacks.lease._target_=tests.helpers.RecordLease"]
    args = ["-m", *hold, *TINY, "callbacks=none", "hydra.launcher.gpus=2", f"hydra.sweep.dir={sweep}"]
    proc = run_cli(args, cwd=tmp_path, env=env_with())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "GPUs 0,1 x 1 job(s) each (simulated: no GPU is visible)" in proc.stdout
    jobs = [json.loads(line) for line in (sweep / "jobs.jsonl").read_text().splitlines()]
    assert len(jobs) == 5 and {j["gpu"] for j in jobs} == {"0", "1"}
    fresh = "import torch; print(torch.get_num_threads())"  # what one point alone would get
    threads = int(subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True, env=env_with()).stdout)
    for job in jobs:  # each point's process ran with its lease, inside the time its lease was held
        seen = json.loads((sweep / job["run_dir"] / "lease.json").read_text())
        assert seen["cuda_visible_devices"] == job["gpu"]
        # two points side by side share the cores; fewer threads where others keep cores busy (gansweep.threads)
        assert 1 <= seen["torch_threads"] <= max(1, threads // 2)
        assert job["start"] <= seen["start"] <= seen["end"] <= job["end"]
    for a, b in combinations(jobs, 2):
        if a["gpu"] == b["gpu"]:
            assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    first = min(j["start"] for j in jobs)
    for gpu in ("0", "1"):
        on_gpu = sorted((j for j in jobs if j["gpu"] == gpu), key=lambda j: j["start"])
        frees = [first] + [j["end"] for j in on_gpu]  # when this GPU became free
        nexts = [j["start"] for j in on_gpu] + [float("inf")]  # and when it was next taken
        for free, taken in zip(frees, nexts, strict=True):
            if taken - free > slack:  # idle for a while: then no point may have been waiting
                assert not [j for j in jobs if j["start"] > free + slack], (gpu, free, taken, jobs)


@pytest.mark.parametrize(
    "override, message",
    [("hydra.launcher.workers=0", "hydra.launcher.workers must be an integer >= 1, got 0"),
     ("hydra.launcher.gpus=3", "hydra.launcher.gpus=3 but only 1 GPU(s) are visible (0)"),
     ("hydra.launcher.worker=2", "hydra.launcher.worker")],
)  # fmt: skip
def test_a_wrong_launcher_setting_fails_at_once_with_the_key(tmp_path, override, message):
    env = dict(env_with(), CUDA_VISIBLE_DEVICES="0")
    proc = run_cli(["-m", "seed=0,1", override, f"hydra.sweep.dir={tmp_path / 's'}"], cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
    assert not list(tmp_path.rglob("metrics.json"))
