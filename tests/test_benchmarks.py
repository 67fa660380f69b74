"""The benchmark scripts keep running against the current API (a tiny size; no timing is asserted)."""

import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env

pytestmark = pytest.mark.slow  # each starts a Python that imports torch and Lightning: .ci/run's second step


@pytest.mark.parametrize(
    "script, args",
    [
        ("toy_step.py", ["--iters", "3", "--hidden", "8", "--batch", "16"]),
        ("image_step.py", ["--iters", "2", "--batch", "4", "--n-critic", "2", "--images", "32", "--dim", "8"]),
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
