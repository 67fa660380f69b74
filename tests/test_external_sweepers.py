"""External sweepers on gansweep's launcher: the released hydra-optuna-sweeper (1.3.0) over a study with a diverging,
a raising and a healthy trial, fused and unfused. Optuna aborts its study on a NaN value or a failed job; gansweep
tells it +inf (the worst when minimising) for a point without an objective, so the study completes, every point keeps
its record and the report is written."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env, run_cli

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

TINY = ["arch.hidden=16", "train.iters=3", "train.batch_size=32", "metrics.num_samples=200", "logger=csv"]
# lr 1e6 diverges; lr -1.0 raises as its optimizer is built (the launcher's checks pass it); lr 1e-4 trains
STUDY = ["hydra/sweeper=optuna", "hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=3"]
STUDY += ["optim.lr=choice(1e-4,-1.0,1e6)"]


@pytest.mark.parametrize("fuse", [1, 3], ids=["unfused", "fused"])
def test_an_optuna_study_with_a_diverging_and_a_raising_trial_completes(tmp_path, fuse):
    sweep = tmp_path / "study"
    args = ["-m", *STUDY, *TINY, f"hydra.launcher.fuse={fuse}", f"hydra.sweep.dir={sweep}"]
    proc = run_cli(args, tmp_path, env=dict(cli_env(), OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = {
        json.loads((p).read_text())["overrides"][0]: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")
    }
    assert {key: r["status"] for key, r in records.items()} == {
        "optim.lr=0.0001": "ok",
        "optim.lr=-1.0": "failed",
        "optim.lr=1000000.0": "diverged",
    }
    results = (sweep / "optimization_results.yaml").read_text()
    assert "optim.lr: 0.0001" in results  # the healthy trial is the study's best
    assert (sweep / "report.md").is_file() and "1000000.0" in (sweep / "report.md").read_text()
    if fuse > 1:
        assert "train as one model" in proc.stdout + proc.stderr


def test_gansweep_resume_finishes_an_optuna_sweeps_points_and_keeps_the_users_report(tmp_path):
    """An Optuna folder has no multirun.yaml and running its command again would start another study: gansweep-resume
    runs the points its folders hold, skipping the finished ones, and remakes the user's report the user's way."""
    sweep = tmp_path / "study"
    env = dict(cli_env(), OMP_NUM_THREADS="1")
    assert run_cli(["-m", *STUDY, *TINY, f"hydra.sweep.dir={sweep}"], tmp_path, env=env).returncode == 0
    report = subprocess.run(
        [str(Path(sys.executable).with_name("gansweep-report")), str(sweep), "--metric", "energy_distance"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    healthy = next(p.parent for p in sweep.glob("*/metrics.json") if json.loads(p.read_text())["status"] == "ok")
    (healthy / "metrics.json").unlink()  # as a point killed before its record leaves it
    done = subprocess.run(
        [str(Path(sys.executable).with_name("gansweep-resume")), str(sweep)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert out.count(" skipped") >= 2 and "hydra.sweeper.points=" in out  # the two others, without a process
    assert json.loads((healthy / "metrics.json").read_text())["status"] == "ok"
    assert "Metric: `energy_distance`" in (sweep / "report.md").read_text()  # the user's choice, kept
    rerun = subprocess.run(  # the added override reaches every point: the failed one is trained again
        [str(Path(sys.executable).with_name("gansweep-resume")), str(sweep), "resume.failed=rerun"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    failed = next(p.parent for p in sweep.glob("*/metrics.json") if json.loads(p.read_text())["status"] == "failed")
    assert (failed / "metrics.failed.json").is_file()  # retried: its earlier failure kept beside the new one


def test_the_value_a_sweeper_gets_is_never_nan():
    from omegaconf import OmegaConf

    from gansweep.hydra_job import sweeper_value

    optuna_max = OmegaConf.create({"sweeper": {"direction": "maximize"}})
    nevergrad_max = OmegaConf.create({"sweeper": {"optim": {"maximize": True}}})
    ax_max = OmegaConf.create({"sweeper": {"ax_config": {"experiment": {"minimize": False}}}})
    assert sweeper_value(0.5, optuna_max) == 0.5
    assert sweeper_value(math.nan, None) == math.inf
    assert sweeper_value(math.nan, OmegaConf.create({"sweeper": {"direction": ["minimize"]}})) == math.inf
    assert all(sweeper_value(math.nan, h) == -math.inf for h in (optuna_max, nevergrad_max, ax_max))
