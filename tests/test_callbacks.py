"""The callbacks group: evaluation intervals, turning callbacks off, checkpoints, and the record kept whole."""

import json

import pytest
import pytorch_lightning as pl

from gansweep.run.task import train
from tests.conftest import compose_config


def run(overrides, tmp_path):
    cfg = compose_config(overrides, out_dir=tmp_path, multirun=True)
    train(cfg)
    return json.loads((tmp_path / "metrics.json").read_text())


def csv_rows(path):
    header, *rows = [line.split(",") for line in path.read_text().splitlines() if line]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_evaluation_every_n_generator_iterations_and_at_the_end(tmp_path, fast):
    record = run([*fast, "logger=csv", "metrics.every=6"], tmp_path)
    assert record["status"] == "ok"
    rows = csv_rows(tmp_path / "logs" / "metrics.csv")
    assert [int(r["step"]) for r in rows if r["eval/energy_distance"]] == [6, 12, 18, 20]
    final = [r for r in rows if r["eval/energy_distance"]][-1]
    assert float(final["eval/energy_distance"]) == pytest.approx(record["metrics"]["energy_distance"], rel=1e-6)
    assert int(float(final["eval/modes_covered"])) == record["metrics"]["modes_covered"]


def test_no_callbacks_and_no_metrics_trains_and_records(tmp_path, fast):
    record = run([*fast, "callbacks=none", "metrics=none"], tmp_path)
    assert record["status"] == "ok" and record["g_iters"] == 20 and record["metrics"] == {}
    assert not (tmp_path / "samples.png").exists() and not (tmp_path / "checkpoints").exists()


def test_one_callback_removed_the_others_kept(tmp_path, fast):
    record = run([*fast, "~callbacks.checkpoint"], tmp_path)
    assert record["status"] == "ok" and "energy_distance" in record["metrics"]
    assert (tmp_path / "samples.png").exists() and not (tmp_path / "checkpoints").exists()


def test_a_diverged_run_leaves_no_checkpoint_but_its_record_and_plot(tmp_path, fast):
    record = run([*fast, "optim.lr=1e30", "loss=wgan", "constraint=none"], tmp_path)
    assert record["status"] == "diverged"
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert (tmp_path / "samples.png").exists() and "energy_distance" in record["metrics"]


class FailsAtTheEnd(pl.Callback):
    """A callback that breaks after the evaluation has run (e.g. a full disk while saving)."""

    def on_train_end(self, trainer, module):
        raise OSError("no space left on device")


def test_metrics_computed_before_a_failure_are_kept(tmp_path, fast):
    record = run([*fast, "+callbacks.fails._target_=tests.test_callbacks.FailsAtTheEnd"], tmp_path)
    assert record["status"] == "failed" and "no space left" in record["error"]
    assert record["g_iters"] == 20 and "energy_distance" in record["metrics"]


def test_evaluation_settings_are_checked(tmp_path, fast):
    with pytest.raises(Exception, match="every"):
        train(compose_config([*fast, "metrics.every=0"], out_dir=tmp_path))
