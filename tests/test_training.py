"""Short real trainings: every objective with its paper's constraint, divergence, failure, learning."""

import json

import pytest

from gansweep.run.task import train
from tests.conftest import compose_config

EXPERIMENTS = ["wgan_gp", "wgan", "bolt", "lgan", "bures", "alt_bures", "nsgan", "hinge"]


def run(overrides, tmp_path, multirun=False):
    cfg = compose_config(overrides, out_dir=tmp_path, multirun=multirun)
    value = train(cfg)
    return value, json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_each_objective_trains_and_writes_metrics(experiment, tmp_path, fast):
    value, record = run([f"experiment={experiment}", *fast], tmp_path)
    assert record["status"] == "ok", record.get("error")
    assert record["g_iters"] == 20
    assert record["choices"]["experiment"] == experiment
    assert record["choices"]["debug"] == "None"  # debug's derived sizes choice and Hydra's own are left out:
    assert not any(key.startswith(("hydra", "debug/")) for key in record["choices"])
    assert set(record["metrics"]) == {"modes_covered", "n_modes", "hq_pct", "energy_distance"}
    assert record["metrics"]["energy_distance"] == pytest.approx(value)
    assert record["wall_time_s"] > 0
    assert (tmp_path / "samples.png").stat().st_size > 1000
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_bures_kernel_form_and_eigen_sqrt_train(tmp_path, fast):
    _, record = run(["experiment=bures", "arch=bures_mlp", "loss.form=kernel", "loss.sqrtm=eigh", *fast], tmp_path)
    assert record["status"] == "ok", record.get("error")


def test_stacked_constraints_linear_decay_and_ema(tmp_path, fast):
    overrides = ["constraint=[sn,gp]", "constraint.gp.weight=5", "optim.decay=linear", "train.ema=0.9", *fast]
    _, record = run(overrides + ["logger=csv", "train.log_every=5"], tmp_path)
    assert record["status"] == "ok", record.get("error")
    curves = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()
    header = curves[0].split(",")
    for key in ("train/critic", "train/penalty", "train/generator", "train/critic_grad_norm"):
        assert key in header
    rows = [dict(zip(header, row.split(","), strict=True)) for row in curves[1:] if row]
    train_steps = [int(r["step"]) for r in rows if r["train/critic"]]
    assert train_steps == [5, 10, 15, 20]  # logging interval and x-axis counted in generator iterations
    eval_steps = [int(r["step"]) for r in rows if r["eval/energy_distance"]]
    assert eval_steps == [20]  # the final evaluation, at the last generator iteration


def test_absurd_learning_rate_diverges_cleanly(tmp_path, fast):
    value, record = run(["optim.lr=1e30", "loss=wgan", "constraint=none", *fast], tmp_path)
    assert record["status"] == "diverged"
    assert "non-finite" in record["error"]
    assert 1 <= record["diverged_at"] <= record["g_iters"] <= 20  # the flag is read every log interval
    assert f"iteration {record['diverged_at']}" in record["error"]
    assert value == float("inf")  # the worst value for a minimising sweeper, never NaN


def test_a_bad_option_fails_loudly_in_a_single_run_and_is_recorded(tmp_path, fast):
    with pytest.raises(Exception, match="loss.phi='log' is not an option"):
        run(["loss=lgan", "loss.phi=log", *fast], tmp_path)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "failed" and "loss.phi" in record["error"]


@pytest.mark.parametrize(
    "override, message",
    [("train.n_critic=0", "train.n_critic must be >= 1"), ("train.ema=1.5", "train.ema is a decay")],
)
def test_out_of_range_training_keys_name_the_key(override, message, tmp_path, fast, capsys):
    """A single run ends on one line that names the key (exit status 1, no traceback), and its record says so."""
    with pytest.raises(SystemExit) as exit_:
        run([*fast, override], tmp_path)
    assert exit_.value.code == 1 and f"Error: {message}" in capsys.readouterr().err
    assert message in json.loads((tmp_path / "metrics.json").read_text())["error"]


def test_a_failing_point_of_a_multirun_is_recorded_not_raised(tmp_path, fast):
    value, record = run(["loss=lgan", "loss.phi=log", *fast], tmp_path, multirun=True)
    assert record["status"] == "failed" and "traceback" in record
    assert value == float("inf")


@pytest.mark.slow
def test_wgan_gp_covers_the_ring(tmp_path):
    """The learning test: the default run (seeded WGAN-GP on 8 Gaussians, 1500 G iterations) finds >= 7 of 8 modes."""
    _, record = run(["logger=none", "~callbacks.checkpoint", "seed=0"], tmp_path)
    assert record["g_iters"] == 1500
    assert record["status"] == "ok"
    assert record["metrics"]["modes_covered"] >= 7, record["metrics"]
    assert record["metrics"]["energy_distance"] < 0.05, record["metrics"]
