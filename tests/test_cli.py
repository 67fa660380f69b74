"""The `gansweep` console script from the shell: a single run, the quickstart (the template trained through the
launcher; tests/test_smoke.py composes every template and, marked slow, trains each), and an installed wheel used
outside the checkout. A sweep with bad points: tests/test_launcher.py."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, run_cli

TINY = ["arch.hidden=16", "train.iters=10", "train.batch_size=32", "metrics.num_samples=200", "logger=none"]


def test_single_run_leaves_config_metrics_and_plot(tmp_path):
    out = tmp_path / "run"
    proc = run_cli([*TINY, f"hydra.run.dir={out}"], cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "metrics.json").read_text())
    assert record["status"] == "ok" and record["g_iters"] == 10
    assert record["choices"]["loss"] == "wgan" and record["choices"]["constraint"] == "gp"
    assert (out / ".hydra" / "config.yaml").exists() and (out / "samples.png").exists()
    assert "weight: 0.1" in (out / "config.yaml").read_text()  # resolved: ring8's protocol GP weight
    assert not (REPO / "lightning_logs").exists()


def test_quickstart_template_runs_every_objective(tmp_path):
    sweep = tmp_path / "quick"
    proc = run_cli(["-m", "+sweep=quickstart", *TINY, "logger=csv", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    assert len(records) == 10 and all(r["status"] == "ok" for r in records)
    assert {r["choices"]["experiment"] for r in records} == {"wgan_gp", "bolt", "lgan", "bures", "nsgan"}
    assert "modes_covered" in proc.stdout  # the report's headline metric for a toy mixture
    assert (sweep / "curves.png").is_file() and (sweep / "heatmap.png").is_file()
    again = subprocess.run(  # the console script, on the finished sweep, ranked by another metric
        [str(Path(sys.executable).with_name("gansweep-report")), str(sweep), "--metric", "energy_distance"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert "ranked by energy_distance (lower is better)" in again.stdout and "experiment" in again.stdout


@pytest.mark.slow
def test_installed_wheel_works_outside_the_checkout(tmp_path):
    # built from a clean copy: setuptools would otherwise reuse a stale build/ of the checkout
    source = tmp_path / "source"
    junk = (".git", ".venv", "build", "*.egg-info", "outputs", "multirun", "*_cache", "__pycache__")
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*junk))
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = tmp_path.glob("gansweep-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    for package in ("gansweep", "hydra_plugins"):  # a new subpackage missing from pyproject's list
        for init in (REPO / package).rglob("__init__.py"):
            assert init.relative_to(REPO).as_posix() in packaged, init
    assert "hydra_plugins/__init__.py" not in packaged  # Hydra's namespace: one would hide every other plugin
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)], check=True
    )
    env = dict(cli_env(), PYTHONPATH=str(site))
    where = subprocess.run(
        [sys.executable, "-c", "import gansweep.paths as p; print(p.conf_dir()); print(p.templates_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.split() == [str(site / "gansweep" / "_conf"), str(site / "gansweep" / "_templates")]
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "gansweep", "loss=bolt", "constraint=[sn,gp]", *TINY, f"hydra.run.dir={out}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["status"] == "ok"
    listing = subprocess.run(
        [sys.executable, "-m", "gansweep", "--cfg", "hydra", "+sweep=quickstart"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "wgan_gp,bolt,lgan,bures,nsgan" in listing.stdout, listing.stderr[-2000:]
    assert "_target_: hydra_plugins.gansweep_launcher.launcher.GansweepLauncher" in listing.stdout  # found, default


def test_typo_fails_fast_with_the_key(tmp_path):
    proc = run_cli(["train.iters=many"], cwd=tmp_path, timeout=60)
    assert proc.returncode != 0
    assert "train.iters" in proc.stderr and "Integer" in proc.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("metrics.json"))
