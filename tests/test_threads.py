"""gansweep.threads: the thread count and OpenMP environment chosen for given cores, workers, idle cores and user
settings, and where they are applied (no timing: benchmarks/neighbour.py measures)."""

import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from gansweep import threads
from gansweep.launch.child import PointSpec
from gansweep.launch.local import fused_specs
from gansweep.threads import ThreadChoice, choose
from tests.conftest import REPO, cli_env

PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize(
    "cores, concurrency, idle, expected",
    [(2, 1, None, 1), (2, 2, None, 1), (2, 3, None, 1), (1, 1, None, 1), (4, 1, None, 3), (16, 4, None, 4),
     (16, 3, None, 5), (16, 1, None, 15), (2, 1, 2.0, 1), (2, 1, 0.0, 1), (4, 1, 4.0, 3), (4, 1, 2.6, 2),
     (4, 1, 2.4, 1), (16, 2, 3.2, 2), (16, 2, 15.0, 8)],
)  # fmt: skip
def test_a_point_takes_its_share_of_the_cores_but_never_every_idle_core(cores, concurrency, idle, expected):
    assert choose(cores, concurrency, {}, idle) == ThreadChoice(PASSIVE, expected)


@pytest.mark.parametrize("key", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_a_thread_count_in_the_environment_is_the_users_and_wins(key):
    assert choose(16, 4, {key: "7"}, 1.0) == ThreadChoice(PASSIVE, None)
    assert choose(16, 4, {key: ""}, None).threads == 4  # empty: not set


@pytest.mark.parametrize("key, value", [("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "10000")])
def test_a_wait_policy_in_the_environment_is_the_users_and_wins(key, value):
    assert choose(4, 1, {key: value}) == ThreadChoice({}, 3)


def test_gansweep_threads_torch_leaves_torchs_defaults():
    assert choose(2, 2, {"GANSWEEP_THREADS": "torch", "OMP_NUM_THREADS": "3"}, 0.0) == ThreadChoice({}, None)


def test_prepare_environment_adds_the_wait_policy_unless_one_is_set():
    environ = {"PATH": "/bin"}
    assert threads.prepare_environment(environ) == PASSIVE and environ == {"PATH": "/bin", **PASSIVE}
    mine = {"GOMP_SPINCOUNT": "0"}
    assert threads.prepare_environment(mine) == {} and mine == {"GOMP_SPINCOUNT": "0"}


def test_idle_cores_is_between_none_and_every_core():
    idle = threads.idle_cores(0.05, ours=threads.ancestors(2))
    assert idle is None or 0.0 <= idle <= (os.cpu_count() or 1)
    assert threads.ancestors(1) == [os.getppid()]


def test_apply_sets_torchs_threads_and_a_user_setting_stands(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.delenv("GANSWEEP_THREADS", raising=False)
    monkeypatch.setattr(threads, "cpu_cores", lambda: 4)
    monkeypatch.setattr(threads, "idle_cores", lambda **kwargs: 4.0)
    try:
        assert threads.apply(concurrency=1) == 3 and torch.get_num_threads() == 3
        assert threads.apply(concurrency=2) == 2 and torch.get_num_threads() == 2
        monkeypatch.setattr(threads, "idle_cores", lambda **kwargs: 1.0)  # a neighbour holds three cores
        assert threads.apply(concurrency=2) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        torch.set_num_threads(3)
        assert threads.apply(concurrency=4) is None and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_the_cli_puts_the_wait_policy_in_place_before_torch_loads(tmp_path):
    """`gansweep` (here `--cfg job`, which trains nothing) sets OMP_WAIT_POLICY with torch not yet imported, so
    libgomp reads it when the run, or the sweep's forkserver started from this process, imports torch."""
    code = (
        "import os, sys; sys.argv = ['gansweep', '--cfg', 'job']; from gansweep.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GANSWEEP_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "PASSIVE False", out.stderr[-2000:]


@pytest.mark.slow  # starts several Pythons that import torch and Lightning
def test_neighbour_benchmark_runs_both_policies_beside_a_busy_loop():
    script = REPO / "benchmarks" / "neighbour.py"
    tiny = "--rounds 1 --iters 2 --hidden 8 --batch 16 --point-iters 2 --neighbours 1"  # one busy loop, both policies
    args = [sys.executable, str(script), *tiny.split()]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=cli_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    for row in ("| toy step | old |", "| toy step | new |", "| quickstart point | new/old |"):
        assert row in proc.stdout, proc.stdout


def _point(num: int, loss: str, seed: int, concurrency: int) -> PointSpec:
    config = OmegaConf.create({"loss": {"name": loss}, "seed": seed, "train": {"iters": 1}})
    return PointSpec(num, config, f"/nonexistent/{num}", None, b"", "/", concurrency)


def test_fused_jobs_of_a_whole_sweep_share_the_cores_among_no_more_jobs_than_there_are():
    points = [_point(i, loss, seed, concurrency=4) for i, (loss, seed) in enumerate([("a", 0), ("a", 1), ("b", 0)])]
    jobs = fused_specs(points, fuse=2, bounded=True)  # two jobs: (a, 0 and 1) and (b, 0)
    assert [job.concurrency for job in jobs] == [2, 2]
    assert all(p.concurrency == 2 for p in jobs[0].points)  # type: ignore[union-attr]
    streamed = fused_specs(points, fuse=2)  # a stream's chunk: more jobs may come, the workers' count stands
    assert [job.concurrency for job in streamed] == [4, 4]


def test_inside_a_slurm_job_a_point_counts_only_the_cores_it_was_allocated():
    every = threads.cpu_cores({})
    assert threads.cpu_cores({"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "1"}) == 1
    assert threads.cpu_cores({"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": str(every + 8)}) == every  # never more
    assert threads.cpu_cores({"SLURM_CPUS_PER_TASK": "1"}) == every  # a variable left over outside a job
    assert threads.cpu_cores({"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "0"}) == every
