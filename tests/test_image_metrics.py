"""Image metrics inside real runs: the Inception path end to end on a tiny CIFAR-10 written in its real format with
a random-weights network in the real file format, the pre-flight failure, the protocol block, and evaluations that
leave training untouched."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gansweep.callbacks.image_evaluation import InceptionEvaluation
from gansweep.constraints.gradient_penalty import GradientPenalty
from gansweep.losses.wgan import WGANLoss
from gansweep.model.points import GANPoint
from gansweep.models.dcgan import build_dcgan
from gansweep.record import objective
from tests.conftest import cli_env, run_cli
from tests.fake_data import write_dataset_root
from tests.fake_inception import write_fake_inception
from tests.helpers import InMemory, fit_points
from tests.test_image_training import ADAM

TINY = ["arch=dcgan", "arch.dim=16", "train.iters=4", "train.n_critic=1", "train.batch_size=16", "logger=csv"]
CIFAR = {"_target_": "gansweep.data.cifar10.CIFAR10DataModule"}


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    return write_dataset_root(CIFAR, tmp_path_factory.mktemp("cifar"), n=120)


def inception_args(cifar: Path, weights: Path, run: Path, *extra: str) -> list:
    return [
        "dataset=cifar10",
        f"dataset.root={cifar}",
        *TINY,
        "metrics.num_samples=80",
        "metrics.num_real=100",
        "metrics.batch_size=40",
        f"metrics.inception_weights={weights}",
        f"metrics.cache_dir={run.parent}/metrics-cache",
        f"hydra.run.dir={run}",
        *extra,
    ]


def curves(run: Path) -> list:
    with open(run / "logs" / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_inception_metrics_land_in_metrics_json_with_their_protocol(tmp_path, cifar):
    """gansweep-prepare computes the real features first; the run reuses them and records every metric."""
    weights = write_fake_inception(tmp_path / "inception-2015-12-05.pt")
    run = tmp_path / "run"
    args = inception_args(cifar, weights, run, "metrics.every=2")
    script = Path(sys.executable).with_name("gansweep-prepare")
    prepared = subprocess.run([str(script), *args[:-2]], cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    cache = Path(prepared.stdout.strip().splitlines()[-1].split("real features in ")[1])
    assert cache.is_file() and "computing" in prepared.stderr
    assert not run.exists() and not (tmp_path / "outputs").exists()  # prepare makes no run folder

    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run / "gansweep.log").read_text()
    assert f"from the cache: {cache}" in log and "computing" not in log
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "ok"
    metrics = record["metrics"]
    assert set(metrics) == {
        *("fid_inception", "kid_inception", "kid_inception_std", "precision_inception", "recall_inception"),
    }
    assert all(math.isfinite(v) for v in metrics.values()) and metrics["fid_inception"] >= 0
    assert 0 <= metrics["precision_inception"] <= 1 and 0 <= metrics["recall_inception"] <= 1
    protocol = record["protocol"]["inception"]
    assert protocol["extractor"] == "inception-2015-12-05" and protocol["weights"] == str(weights)
    assert len(protocol["weights_sha256"]) == 64 and protocol["weights_standard"] is None
    assert (protocol["real_samples"], protocol["real_of"], protocol["generated_samples"]) == (100, 120, 80)
    assert protocol["real_split"] == "train" and protocol["dataset"] == "cifar10" and protocol["g_iters"] == 4
    assert protocol["ema_generator"] is False and "bilinear" in protocol["resize"]
    assert protocol["kid_subset_size"] == 80 and protocol["pr_real_samples"] == 80
    assert protocol["real_cache"] == str(cache) and protocol["precision"] == "fp32 (TF32 off)"
    # FID against iterations beside the losses: at the interval (2) and at the end (4), with the time taken
    evals = [row for row in curves(run) if row.get("eval/fid_inception")]
    assert [int(row["step"]) for row in evals] == [2, 4]
    assert all(float(row["eval/seconds_inception"]) > 0 for row in evals)


def test_missing_weights_fail_before_any_training(tmp_path, cifar):
    run = tmp_path / "run"
    start = time.perf_counter()
    proc = run_cli(inception_args(cifar, tmp_path / "absent.pt", run), cwd=tmp_path)
    assert proc.returncode != 0
    assert time.perf_counter() - start < 60
    assert "metrics.inception_weights=PATH" in proc.stderr and "absent.pt is not a file" in proc.stderr
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "failed" and record["g_iters"] == 0
    assert "InceptionWeightsError" in record["error"]
    assert not (run / "logs" / "metrics.csv").exists()  # no training step was taken


def test_evaluating_during_training_does_not_change_training(tmp_path):
    """The same fit with an evaluation after every generator iteration and with none ends with the same weights."""
    weights = write_fake_inception(tmp_path / "inception-2015-12-05.pt")
    finals, evaluations = [], []
    for every in (None, 1):
        torch.manual_seed(0)
        point = GANPoint(build_dcgan((3, 32, 32), dim=8), [GradientPenalty(10.0)], (ADAM, ADAM))
        data = InMemory(
            torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        )
        evaluation = InceptionEvaluation(
            inception_weights=str(weights), num_samples=16, every=every, batch_size=8, num_real=32, cache_dir=None
        )
        fit_points([(data, point)], WGANLoss(), iters=3, batch_size=8, n_critic=2, callbacks=[[evaluation]])
        finals.append(point.networks.generator.state_dict())
        evaluations.append(evaluation)
    assert finals[0].keys() == finals[1].keys()
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])
    assert evaluations[1].protocol["g_iters"] == 3 and "fid_inception" in evaluations[1].metrics


def test_a_sweep_objective_is_the_first_recorded_metric_of_its_kind():
    assert objective({"metrics": {"energy_distance": 0.5, "hq_pct": 3.0}}) == 0.5
    assert objective({"metrics": {"fid_inception": 31.0, "kid_inception": 0.01}}) == 31.0
    assert objective({"metrics": {"modes": 990, "kl": 0.02, "fid_digits": 3.0}}) == 0.02
    assert math.isnan(objective({"metrics": {}})) and math.isnan(objective({"status": "failed"}))


def test_a_sweep_with_missing_weights_stops_before_any_point_starts(tmp_path, cifar):
    sweep = tmp_path / "sweep"
    args = ["-m", "dataset=cifar10", f"dataset.root={cifar}", "seed=0,1", f"metrics.inception_weights={tmp_path}/x.pt"]
    proc = run_cli([*args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    output = proc.stdout + proc.stderr  # Hydra logs to stdout
    assert proc.returncode == 1
    assert "x.pt is not a file" in output and "No point was started" in output and "Traceback" not in output
    assert not list(sweep.glob("*/metrics.json")) and not (sweep / "jobs.jsonl").exists()


def test_stacked_digits_run_records_modes_kl_and_fid_digits_with_their_protocol(tmp_path):
    run = tmp_path / "run"
    args = ["dataset=stacked_digits", "arch=dcgan", "loss=bures", "train.iters=20", "metrics.num_samples=1000"]
    small = ["arch.dim=16", "train.batch_size=32", "dataset.size=2000", "metrics.num_real=1000", "logger=none"]
    proc = run_cli([*args, *small, f"hydra.run.dir={run}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "ok" and set(record["metrics"]) == {"modes", "kl", "fid_digits"}
    assert 1 <= record["metrics"]["modes"] <= 1000 and record["metrics"]["kl"] >= 0
    protocol = record["protocol"]["digits"]
    assert protocol["extractor"] == "digits-cnn" and protocol["classifier_accuracy"] >= 0.97
    assert len(protocol["weights_sha256"]) == 64 and protocol["resize"].startswith("none")
    assert (protocol["generated_samples"], protocol["real_samples"], protocol["g_iters"]) == (1000, 1000, 20)


def test_gansweep_prepare_says_what_to_fix(capsys, tmp_path, cifar):
    from gansweep.prepare import main

    assert main(["dataset=cifar10", f"dataset.root={cifar}", "metrics=none"]) == 1
    assert "metrics=none: nothing to prepare" in capsys.readouterr().err
    assert main(["dataset=cifar10", f"dataset.root={tmp_path}"]) == 1  # no CIFAR-10 files there
    assert "dataset.root=PATH" in capsys.readouterr().err
    absent = f"metrics.inception_weights={tmp_path}/absent.pt"
    assert main(["dataset=cifar10", f"dataset.root={cifar}", absent]) == 1
    assert "absent.pt is not a file" in capsys.readouterr().err
