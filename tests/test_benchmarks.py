"""The benchmark scripts keep running against the current API (a tiny size; no timing is asserted)."""

import subprocess
import sys

from tests.conftest import REPO, cli_env


def test_toy_step_benchmark_runs_and_prints_its_ratio():
    args = ["--iters", "3", "--hidden", "8", "--batch", "16", "--device", "cpu"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "toy_step.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ratio gansweep/plain:" in proc.stdout


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
