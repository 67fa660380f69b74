"""One copy per fused group, not K (gansweep.cache.SHARED): the points of a group read one data tensor and score
with one extractor and one set of real features, write none of them, and still get each its own numbers, those it
gets alone; different datasets (or rewritten files) in one process are never mixed up, and nothing outlives its
last holder."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Tuple

import pytest
import torch

from gansweep.cache import SHARED, private_copies
from gansweep.callbacks.image_evaluation import DigitsEvaluation
from gansweep.data.cifar10 import CIFAR10DataModule
from gansweep.data.digits import StackedDigitsDataModule
from gansweep.instantiate import instantiate_plain
from gansweep.metrics.digit_classifier import classifier_key
from gansweep.run.build import build_point
from tests.conftest import REPO, cli_env, compose_config
from tests.fake_data import cifar_batches, write_cifar_folder
from tests.helpers import fit_points

CPU = torch.device("cpu")
SIZE = 256
TINY = [
    "dataset=stacked_digits",
    f"dataset.size={SIZE}",
    "arch=dcgan",
    "arch.dim=8",
    "train.batch_size=16",
    "train.n_critic=1",
    "metrics=digits",
    "metrics.num_samples=64",
    "metrics.num_real=128",
    "metrics.batch_size=64",
]


def digits(cache: Path, **settings: Any) -> DigitsEvaluation:
    return DigitsEvaluation(num_samples=64, batch_size=64, num_real=128, cache_dir=str(cache), **settings)


def group(cache: Path, seeds: List[int]) -> List[Tuple[Any, Any, Any, Any]]:
    """(data module, loss, GANPoint, its digits evaluation) of each seed, built as the run path builds a point."""
    built = []
    for seed in seeds:
        cfg = compose_config([*TINY, f"seed={seed}", f"optim.lr={1e-4 * (seed + 1)}", f"metrics.cache_dir={cache}"])
        built.append((*build_point(cfg), instantiate_plain(cfg.metrics)))
    return built


def train(points: List[Tuple[Any, Any, Any, Any]]) -> None:
    """The points as one fused model, in float64, each point with its own evaluation."""
    pairs = [(data, point) for data, _, point, _ in points]
    fit_points(pairs, points[0][1], iters=2, batch_size=16, callbacks=[[e] for *_, e in points], precision="64-true")


@pytest.fixture(scope="module")
def cache() -> Path:
    """The session's metrics cache (conftest's XDG_CACHE_HOME, as runs' metrics.cache_dir): the digit classifier is
    trained into it once for every test of the session."""
    path = Path(os.environ["XDG_CACHE_HOME"]) / "gansweep" / "metrics"
    digits(path)
    return path


def test_a_group_shares_one_tensor_and_one_extractor_writes_neither_and_each_point_scores_as_alone(cache):
    points = group(cache, [0, 1, 2])
    datas, evaluations = [p[0] for p in points], [p[3] for p in points]
    weights = [p._version for p in evaluations[0].extractor.parameters()]  # in-place writes bump a tensor's version
    train(points)
    assert all(d.images is datas[0].images and d.labels is datas[0].labels for d in datas)
    assert all(e.extractor is evaluations[0].extractor for e in evaluations)
    images = datas[0].images
    assert images._version == 0 and torch.equal(images, StackedDigitsDataModule(size=SIZE).read())  # never written
    assert [p._version for p in evaluations[0].extractor.parameters()] == weights
    assert [d.seed for d in datas] == [0, 1, 2]  # each point still draws its own batches (its own stream)
    for k, evaluation in enumerate(evaluations):
        with private_copies():  # point k alone: its own data, extractor and real features
            (alone,) = group(cache, [k])
            assert alone[0].images is not images and alone[3].extractor is not evaluation.extractor
            train([alone])
        assert alone[3].metrics.keys() == evaluation.metrics.keys() == {"modes", "kl", "fid_digits"}
        assert alone[3].metrics == pytest.approx(evaluation.metrics, rel=1e-9, abs=1e-12)
        assert alone[3].protocol.keys() == evaluation.protocol.keys()
        assert evaluation.protocol["real_samples"] == 128 and evaluation.protocol["g_iters"] == 2


def test_evaluations_share_one_set_of_real_features_and_the_values_are_those_computed_alone(cache, tmp_path):
    datas = [StackedDigitsDataModule(size=SIZE, seed=seed) for seed in range(3)]
    evaluations = [digits(cache) for _ in datas]
    for evaluation, data in zip(evaluations, datas, strict=True):
        evaluation.prepare(data, CPU)
    first = evaluations[0]
    assert all(e.loaded is first.loaded and e.real is first.real for e in evaluations)
    assert all(e.real_protocol == first.real_protocol for e in evaluations)
    assert all(e.real_protocol is not first.real_protocol for e in evaluations[1:])  # each its own protocol block
    with private_copies():
        alone = digits(cache)
        alone.prepare(StackedDigitsDataModule(size=SIZE), CPU)
    assert alone.extractor is not first.extractor and alone.real is not first.real
    assert torch.equal(alone.real, first.real) and alone.real_protocol == first.real_protocol
    elsewhere = tmp_path / "other-cache"  # the same classifier file in another cache: another extractor
    elsewhere.mkdir()
    shutil.copy(classifier_key(cache)[0], elsewhere)
    other = digits(elsewhere)
    other.prepare(datas[0], CPU)
    assert other.extractor is not first.extractor and other.real is not first.real
    assert other.real_protocol["real_cache"].startswith(str(elsewhere))


def test_two_stacked_digit_sets_in_one_process_stay_apart(cache):
    a, b, again = (StackedDigitsDataModule(size=SIZE, data_seed=s) for s in (0, 1, 0))
    for data in (a, b, again):
        data.setup()
    assert again.images is a.images and b.images is not a.images and not torch.equal(a.images, b.images)
    assert not torch.equal(a.labels, b.labels)
    with private_copies():
        fresh = StackedDigitsDataModule(size=SIZE, data_seed=1)
        fresh.setup()
    assert fresh.images is not b.images and torch.equal(fresh.images, b.images)
    on_a, on_b = digits(cache), digits(cache)
    on_a.prepare(a, CPU)
    on_b.prepare(b, CPU)
    assert on_a.extractor is on_b.extractor and on_a.real is not on_b.real
    assert not torch.equal(on_a.real, on_b.real)


def test_cifar10_folders_and_a_rewritten_file_are_never_mixed_up(tmp_path):
    small, large = cifar_batches(4), cifar_batches(6)
    write_cifar_folder(tmp_path / "a", small)
    write_cifar_folder(tmp_path / "b", large)
    a, b, a_again = (CIFAR10DataModule(root=str(tmp_path / name)) for name in ("a", "b", "a"))
    for data in (a, b, a_again):
        data.batch_size = 4
        data.setup()
    assert a_again.images is a.images and b.images is not a.images and (len(a.images), len(b.images)) == (20, 30)
    write_cifar_folder(tmp_path / "a", large)  # the same files rewritten: other sizes, other times
    rewritten = CIFAR10DataModule(root=str(tmp_path / "a"))
    rewritten.batch_size = 4
    rewritten.setup()
    assert rewritten.images is not a.images and torch.equal(rewritten.images, b.images) and len(a.images) == 20


def test_the_placed_copy_is_shared_too_and_the_host_copy_is_released():
    datas = [StackedDigitsDataModule(size=SIZE, seed=seed) for seed in range(2)]
    for data in datas:
        data.channels_last = True  # train.channels_last=true: a copy in that layout, one for the group
        data.configure_batches(16, 1, 2)
        data.setup()
    host = datas[0].images
    loaders = [data.train_dataloader() for data in datas]
    assert datas[0].images is datas[1].images is not host
    assert datas[0].images.is_contiguous(memory_format=torch.channels_last)
    assert all(data._decoded is None for data in datas)
    assert [len(list(loader)) for loader in loaders] == [2, 2]


def test_nothing_outlives_its_last_holder(cache):
    gc.collect()  # what earlier tests left behind
    before = set(SHARED.keys())
    data, evaluation = StackedDigitsDataModule(size=SIZE, data_seed=7), digits(cache)
    evaluation.prepare(data, CPU)
    held = set(SHARED.keys()) - before
    assert len(held) == 3  # the images, the extractor, the real features
    del data, evaluation
    gc.collect()
    assert not set(SHARED.keys()) & held


@pytest.mark.slow  # three Pythons that import torch and Lightning
def test_the_memory_benchmark_runs_both_ways_and_prints_them_side_by_side():
    script = REPO / "benchmarks" / "group_memory.py"
    tiny = ["--points", "2", "--size", "256", "--samples", "64", "arch.dim=8", "metrics.num_real=128"]
    proc = subprocess.run(
        [sys.executable, str(script), *tiny], capture_output=True, text=True, timeout=600, env=cli_env()
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "shared (now)" in proc.stdout and "private copies" in proc.stdout and "peak RSS, MiB" in proc.stdout
    assert "statuses: shared ok ok; private ok ok" in proc.stdout
