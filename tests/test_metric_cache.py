"""The real-statistics cache: a miss computes and writes, a hit reuses, another sample count or weights file is
another entry, and processes that start together compute once."""

import multiprocessing
import time
from pathlib import Path

import torch

from gansweep.cache import cache_name, cached
from gansweep.metrics.features import extract, real_features, real_subset, to_uint8


class CountingExtractor:
    """Mean of each channel as a 3-d feature; counts the images it has seen."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.seen += len(images)
        return images.float().mean(dim=(2, 3))


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


KEY = {"dataset": "fake", "extractor": "means", "weights_sha256": "a" * 64}


def features(tmp_path, imgs, extractor, key=KEY):
    return real_features(imgs, extractor, key, batch_size=16, device=torch.device("cpu"), cache_dir=str(tmp_path))


def test_miss_computes_and_writes_then_hit_reuses(tmp_path):
    extractor = CountingExtractor()
    first = features(tmp_path, images(40), extractor)
    assert extractor.seen == 40 and Path(first["path"]).is_file()
    assert torch.equal(first["features"], images(40).float().mean(dim=(2, 3)))
    second = features(tmp_path, images(40), extractor)
    assert extractor.seen == 40  # nothing recomputed
    assert torch.equal(second["features"], first["features"]) and second["path"] == first["path"]


def test_another_count_images_or_weights_file_is_another_entry(tmp_path):
    extractor = CountingExtractor()
    paths = {
        features(tmp_path, images(40), extractor)["path"],
        features(tmp_path, images(30), extractor)["path"],  # another sample count
        features(tmp_path, images(40, seed=1), extractor)["path"],  # other images (another split, changed files)
        features(tmp_path, images(40), extractor, {**KEY, "weights_sha256": "b" * 64})["path"],  # other weights
    }
    assert len(paths) == 4 and extractor.seen == 150


def test_without_a_cache_dir_nothing_is_written(tmp_path):
    extractor = CountingExtractor()
    out = real_features(images(8), extractor, KEY, 4, torch.device("cpu"), cache_dir=None)
    assert out["path"] is None and extractor.seen == 8 and not any(tmp_path.iterdir())


def _slow_compute(path: str, log: str) -> None:
    def compute():
        with open(log, "a") as f:
            f.write("computed\n")
        time.sleep(1.0)  # long enough that the other process arrives while this one computes
        return {"features": torch.arange(5.0)}

    assert torch.equal(cached(Path(path), compute)["features"], torch.arange(5.0))


def test_two_processes_starting_together_compute_once(tmp_path):
    path, log = tmp_path / cache_name("real", {"a": 1}), tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_slow_compute, args=(str(path), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert log.read_text() == "computed\n"
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted([path.name, "log.txt"])  # no temporary, no lock


def test_real_subset_is_fixed_and_independent_of_the_global_seed():
    torch.manual_seed(1)
    a = real_subset(100, 30)
    torch.manual_seed(2)
    assert torch.equal(a, real_subset(100, 30)) and len(set(a.tolist())) == 30
    assert sorted(real_subset(10, None).tolist()) == list(range(10)) == sorted(real_subset(10, 50).tolist())


def test_to_uint8_inverts_the_datasets_scaling():
    values = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(to_uint8(values.float() / 127.5 - 1.0), values)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


def test_features_are_extracted_with_tf32_off_and_the_setting_restored():
    seen = []

    def extractor(batch: torch.Tensor) -> torch.Tensor:
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return batch.float().flatten(1)

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        out = extract(extractor, images(5), batch_size=2, device=torch.device("cpu"))
        assert seen == [(False, False)] * 3 and out.shape == (5, 192)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
