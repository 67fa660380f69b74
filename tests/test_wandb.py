"""logger=wandb: each grid point an offline W&B run, read back with wandb's own reader; the mode and its fallback;
W&B failures that never fail a run; a resumed point continuing its run."""

import json
import logging
import signal

import pytest

from gansweep.loggers import wandb_run
from gansweep.loggers.identity import choice_tags, point_name, sweep_group
from gansweep.loggers.wandb_run import MAX_TAG, WandbRunLogger, resolve_mode
from gansweep.run.task import train
from tests.conftest import compose_config, run_cli
from tests.wandb_files import offline_runs, read_run

TINY = ["arch.hidden=16", "train.batch_size=32", "metrics.num_samples=200", "logger=wandb"]
CURVES = ["train.iters=10", "train.log_every=5", "metrics.every=5", "train.sample_every=5"]


def test_each_sweep_point_is_a_wandb_run_ok_and_failed(tmp_path):
    sweep = tmp_path / "gp_grid"
    # optim.lr=-1.0 passes the launcher's checks and fails as the point builds its optimizer
    proc = run_cli(["-m", "optim.lr=1e-4,-1.0", *TINY, *CURVES, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in (0, 1)]
    assert [r["status"] for r in records] == ["ok", "failed"]

    (path,) = offline_runs(sweep / "0" / "wandb")
    ok = read_run(path)
    assert (ok.run["run_group"], ok.run["job_type"], ok.run["display_name"]) == (
        "gp_grid",
        "wgan",
        "#0 optim.lr=0.0001",
    )
    assert {"loss=wgan", "constraint=gp", "dataset=ring8", "arch=mlp"} <= set(ok.run["tags"])
    config = ok.config  # the whole resolved config: the dashboard groups and filters by any key
    assert config["train"]["n_critic"] == 5 and config["seed"] == 0 and config["choices"]["loss"] == "wgan"
    assert config["constraint"]["gp"]["weight"] == 0.1 and config["optim"]["lr"] == pytest.approx(1e-4)
    curves = [row for row in ok.history if "train/critic" in row]
    assert [row["g_iters"] for row in curves] == [5, 10]  # x-axis: generator iterations
    assert {"train/generator", "train/penalty", "train/critic_grad_norm"} <= set(curves[0])
    evaluations = [row for row in ok.history if "eval/energy_distance" in row]
    assert [row["g_iters"] for row in evaluations] == [5, 10]
    images = [row for row in ok.history if "samples.filenames" in row]
    assert [row["g_iters"] for row in images] == [5, 10, 10]  # every sample_every, and samples.png at the end
    assert all((ok.files / name).is_file() for row in images for name in row["samples.filenames"])
    assert ok.summary["status"] == "ok" and ok.summary["error"] is None and ok.summary["g_iters"] == 10
    assert ok.summary["energy_distance"] == pytest.approx(records[0]["metrics"]["energy_distance"])
    assert ok.exit_code == 0

    (path,) = offline_runs(sweep / "1" / "wandb")
    failed = read_run(path)  # a point that failed before training still has its run, config and outcome
    assert failed.run["display_name"] == "#1 optim.lr=-1.0" and failed.config["optim"]["lr"] == -1.0
    assert failed.summary["status"] == "failed" and "learning rates must be > 0" in failed.summary["error"]
    assert failed.exit_code == 1 and not [row for row in failed.history if "train/critic" in row]

    (path,) = offline_runs(sweep / "wandb")  # the sweep's comparison, in the same group
    report = read_run(path)
    assert (report.run["run_group"], report.run["job_type"]) == ("gp_grid", "report")
    (logged,) = report.history
    table = json.loads((report.files / logged["comparison.path"]).read_text())
    assert table["columns"][:2] == ["rank", "optim.lr"] and len(table["data"]) == 2
    points = json.loads((report.files / logged["points.path"]).read_text())
    assert [row[points["columns"].index("status")] for row in points["data"]] == ["ok", "failed"]
    assert (report.files / logged["plots/heatmap.path"]).is_file() and logged["plots/curves._type"] == "image-file"


def test_online_failure_falls_back_to_offline_and_the_run_completes(tmp_path, monkeypatch, caplog):
    import wandb

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb_run, "logged_in", lambda: True)  # credentials, but the server cannot be reached
    real_init = wandb.init

    def unreachable(**kwargs):
        if kwargs.get("mode") == "online":
            raise wandb.errors.CommError("Timed out while retrying: connection refused")
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", unreachable)
    cfg = compose_config([*TINY, "train.iters=4", "logger.wandb.mode=online"], out_dir=tmp_path, multirun=True)
    with caplog.at_level(logging.INFO, logger="gansweep"):
        train(cfg)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "ok"
    warnings = [r.getMessage() for r in caplog.records if "could not start online" in r.getMessage()]
    assert len(warnings) == 1 and "CommError: Timed out" in warnings[0] and "logs offline instead" in warnings[0]
    assert any("wandb sync" in r.getMessage() for r in caplog.records)  # how to upload it later
    (path,) = offline_runs(tmp_path / "wandb")
    run = read_run(path)
    assert run.summary["status"] == "ok" and [r["g_iters"] for r in run.history if "train/critic" in r] == [4]


def test_online_without_credentials_never_prompts_and_logs_offline(tmp_path, monkeypatch, caplog):
    for var in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # no credentials anywhere
    cfg = compose_config([*TINY, "train.iters=2", "logger.wandb.mode=online"], out_dir=tmp_path, multirun=True)
    with caplog.at_level(logging.WARNING, logger="gansweep"):
        train(cfg)  # on a terminal, wandb.init(mode="online") would ask for a key here
    (message,) = [r.getMessage() for r in caplog.records if "W&B" in r.getMessage()]
    assert "no credentials" in message and "logs offline instead" in message
    assert read_run(offline_runs(tmp_path / "wandb")[0]).summary["status"] == "ok"


def test_a_resumed_point_continues_its_wandb_run(tmp_path):
    stop = ["+callbacks.kill._target_=tests.helpers.SignalAt", "+callbacks.kill.at=3"]
    overrides = [*TINY, "train.iters=6", "train.log_every=1", *stop]
    with pytest.raises(SystemExit) as stopped:
        train(compose_config(overrides, out_dir=tmp_path, multirun=True))
    assert stopped.value.code == 128 + signal.SIGTERM
    train(compose_config(overrides, out_dir=tmp_path, multirun=True))  # the same command resumes
    first, second = (read_run(p) for p in offline_runs(tmp_path / "wandb"))
    assert first.run["run_id"] == second.run["run_id"]  # one W&B run for the point (wandb sync joins them)
    assert (first.summary["status"], first.exit_code) == ("interrupted", 0)
    assert [r["g_iters"] for r in first.history if "train/critic" in r] == [1, 2, 3]
    assert [r["g_iters"] for r in second.history if "train/critic" in r] == [4, 5, 6]
    assert second.summary["status"] == "ok" and second.summary["g_iters"] == 6


def test_wandb_disabled_writes_no_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    train(compose_config([*TINY, "train.iters=2"], out_dir=tmp_path, multirun=True))
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "ok"
    assert not offline_runs(tmp_path / "wandb") and (tmp_path / "logs" / "metrics.csv").is_file()


def test_mode_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("online") == "disabled"  # W&B's own switch wins
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    assert resolve_mode("auto") == "offline" and resolve_mode("online") == "online"
    with pytest.raises(ValueError, match="logger.wandb.mode is one of auto, online, offline, disabled"):
        resolve_mode("upload")


def test_a_failing_wandb_call_is_logged_once_and_never_raises(tmp_path, caplog):
    class Broken:
        def log(self, row):
            raise ConnectionError("quota exceeded")

    logger = WandbRunLogger(save_dir=str(tmp_path), mode="disabled")
    logger._experiment = Broken()
    with caplog.at_level(logging.WARNING, logger="gansweep"):
        logger.log_metrics({"train/critic": 1.0}, step=1)
        logger.log_metrics({"train/critic": 2.0}, step=2)
    (message,) = [r.getMessage() for r in caplog.records]
    assert "ConnectionError: quota exceeded" in message and "training goes on" in message


def test_identity_group_name_and_tags(tmp_path):
    assert sweep_group(tmp_path / "multirun" / "2026-11-29" / "10-00-00") == "2026-11-29/10-00-00"
    assert sweep_group(tmp_path / "sweeps" / "gp_grid") == "gp_grid"
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  sweeper:\n    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper\n"
        "    params:\n      optim.lr: 1e-4,2e-4\n  overrides:\n    task:\n    - seed=0,1\n    - train.iters=5\n"
    )
    overrides = ["optim.lr=0.0002", "seed=1", "train.iters=5"]
    assert point_name(overrides, sweep, 3) == "#3 optim.lr=0.0002 seed=1"  # swept values only
    assert point_name(overrides, tmp_path / "elsewhere", 3) == "#3 optim.lr=0.0002 seed=1 train.iters=5"
    assert point_name([], None, None) is None  # a single run without overrides: W&B names it
    tags = choice_tags({"loss": "lgan", "experiment": "None", "dataset": "x" * 100})
    assert tags == ["loss=lgan", "dataset=" + "x" * 100]
    logger = WandbRunLogger(save_dir=str(tmp_path), mode="disabled", tags=["mine"])
    logger.identify(config={"seed": 0}, group="g", job_type="bolt", name="n", tags=tags)
    assert logger._wandb_init["tags"] == ["mine", "loss=lgan", ("dataset=" + "x" * 100)[:MAX_TAG]]
    assert (logger._wandb_init["group"], logger._wandb_init["job_type"]) == ("g", "bolt")
