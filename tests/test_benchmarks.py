"""The benchmark scripts keep running against the current API (a tiny size; no timing is asserted)."""

import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env

pytestmark = pytest.mark.slow  # each starts a Python that imports torch and Lightning: .ci/run's second step


@pytest.mark.parametrize(
    "script, args",
    [
        ("toy_step.py", ["--iters", "3", "--hidden", "8", "--batch", "16", "--rounds", "1"]),
        (
            "image_step.py",
            ["--iters", "2", "--batch", "4", "--n-critic", "2", "--images", "32", "--dim", "8", "--rounds", "1"],
        ),
        ("eval_step.py", ["--metrics", "inception", "--samples", "40", "--real", "40", "--batch", "20", "--dim", "8"]),
    ],
)
def test_benchmark_runs_and_prints_its_ratio(script, args):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args, "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ratio gansweep" in proc.stdout


def test_launcher_overhead_benchmark_runs_both_launchers_and_prints_its_ratio():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "launcher_overhead.py"), "--points", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "per-point overhead:" in proc.stdout and "ratio gansweep/basic:" in proc.stdout


def test_gpu_check_prints_one_table_with_tiny_sizes(tmp_path):
    """benchmarks/gpu_check.sh --tiny: every section runs (no error row) and nothing is judged (tiny sizes; here, no
    GPU either); with no weights file in torch's cache, the FID row says which network it timed instead."""
    env = dict(cli_env(), TORCH_HOME=str(tmp_path / "torch"), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--tiny"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.strip(" |").split(" | ") for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 9 and all(len(row) == 4 for row in rows), proc.stdout
    assert all(result.startswith("not measured") for *_, result in rows), proc.stdout
    for what in ("plain PyTorch fp32", "TF32 + channels-last", "gansweep / plain fp32", "K = 2", "jobs_per_gpu=2"):
        assert what in proc.stdout
    assert "random Inception-v3, TorchScript" in proc.stdout or "small random stand-in" in proc.stdout


@pytest.mark.parametrize(
    "dataset, model",
    [("ring8", ["--hidden", "8"]), ("stacked_digits", ["--width", "4", "--images", "64"])],
)
def test_adaptive_benchmark_prints_both_lines_for_grid_asha_and_hyperband(tmp_path, dataset, model):
    """benchmarks/adaptive.py on a 2 x 1 x 2 grid of a few iterations: the grid, ASHA and Hyperband each print the
    issue's two lines for the dataset."""
    tiny = ["--iters", "4", "--every", "2", "--samples", "32", "--batch", "16", "--workers", "2", "--fuse", "2"]
    grid = ["--lrs", "1e-4", "1e-3", "--lambdas", "1", "--seeds", "0", "1", "--keep", str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "adaptive.py"), "--dataset", dataset, *tiny, *model, *grid],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(cli_env(), OMP_NUM_THREADS="1"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for pruner in ("grid", "asha", "hyperband"):
        assert f"[{dataset} {pruner}] fraction of grid iterations: " in proc.stdout, proc.stdout
        assert f"[{dataset} {pruner}] best within seed spread: " in proc.stdout, proc.stdout
