"""Config mistakes from the shell (issue 21, part 4): a key the schema does not have is refused with the nearest
valid keys, with or without `+`, in one line and before anything trains; the open plug-in groups take their
plug-in's keywords only; `--help` lists the groups a user chooses and none of the internal ones."""

import json
from pathlib import Path

from tests.conftest import REPO, run_cli

TINY = ["arch.hidden=16", "train.iters=2", "train.batch_size=16", "metrics.num_samples=100", "logger=none"]


def error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


def trained(folder: Path) -> list:
    """The metrics.json files under `folder` that say a point trained (status ok)."""
    return [p for p in folder.rglob("metrics.json") if json.loads(p.read_text()).get("status") == "ok"]


def test_added_key_not_in_schema_is_refused_with_the_nearest_key(tmp_path):
    out = tmp_path / "run"
    proc = run_cli([*TINY, "+optim.lrr=1", f"hydra.run.dir={out}"], cwd=REPO, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (line,) = error_lines(proc.stderr)
    assert "optim.lrr" in line and "did you mean optim.lr?" in line
    assert "Traceback" not in proc.stderr
    assert not trained(tmp_path)


def test_misspelled_key_without_plus_shows_the_nearest_key(tmp_path):
    proc = run_cli([*TINY, "train.itres=3", f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO, timeout=300)
    assert proc.returncode == 1
    (line,) = error_lines(proc.stderr)
    assert "did you mean train.iters?" in line and "`+` would not help" in line
    assert "To append to your config use +" not in proc.stderr  # Hydra's hint, which would not help
    assert "Traceback" not in proc.stderr and not trained(tmp_path)


def test_full_error_keeps_hydras_traceback(tmp_path):
    env_proc = run_cli(["optim.lrr=1", f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO, timeout=300, env=_full_error())
    assert env_proc.returncode == 1 and "Traceback" in env_proc.stderr


def _full_error() -> dict:
    from tests.conftest import cli_env

    return {**cli_env(), "HYDRA_FULL_ERROR": "1"}


def test_open_plugin_group_takes_its_plugins_keywords_only(tmp_path):
    """`+constraint.gp.KEY`: a keyword of the penalty's class is accepted and used, another is refused naming the
    class's keywords (nothing trains)."""
    bad = run_cli([*TINY, "+constraint.gp.weigth=1", f"hydra.run.dir={tmp_path / 'bad'}"], cwd=REPO, timeout=300)
    assert bad.returncode == 1
    (line,) = error_lines(bad.stderr)
    assert "constraint.gp.weigth is not a keyword of gansweep.constraints.gradient_penalty.GradientPenalty" in line
    assert "did you mean constraint.gp.weight?" in line and "Traceback" not in bad.stderr
    assert not trained(tmp_path / "bad")
    extra = run_cli([*TINY, "+optim.extra.eps=1e-6", f"hydra.run.dir={tmp_path / 'ok'}"], cwd=REPO, timeout=300)
    assert extra.returncode == 0, extra.stderr[-2000:]
    assert len(trained(tmp_path / "ok")) == 1


def test_help_lists_only_the_groups_a_user_chooses(tmp_path):
    proc = run_cli(["--help"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    groups = proc.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    assert "\nloss: " in groups and "\nprotocol: " in groups and "\nsweep: " in groups
    dataset = next(line for line in groups.splitlines() if line.startswith("dataset: "))
    assert "cifar10" in dataset and "_image" not in dataset
    for internal in ("debug/sizes", "debug/arch", "debug/dataset", "debug/metrics", "protocol/loss"):
        assert internal not in groups
    assert "\ndebug: smoke\n" in groups


def test_sweep_over_a_key_not_in_schema_stops_before_any_point(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", *TINY, "+optim.lrr=1,2", f"hydra.sweep.dir={sweep}"], cwd=REPO, timeout=300)
    assert proc.returncode == 1
    (line,) = error_lines(proc.stderr)
    assert "did you mean optim.lr?" in line and "Traceback" not in proc.stderr
    assert not list(sweep.glob("*/metrics.json"))


def test_sweep_with_a_bad_plugin_keyword_stops_on_the_launchers_shared_error(tmp_path):
    """A key only the composed config can judge (a plug-in's keyword) reaches the launcher, whose check of every
    point finds the sweep's common part failing: one error, no point started."""
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", *TINY, "+loss.anything=1", "seed=0,1", f"hydra.sweep.dir={sweep}"], cwd=REPO, timeout=300)
    assert proc.returncode == 1
    assert "Error: every point of this sweep fails before it starts: loss.anything is not a keyword" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not trained(tmp_path)
