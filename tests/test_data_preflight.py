"""Every dataset reader names the file it cannot read (path, size, the format expected, the underlying error, what to
do) as a gansweep.config.ConfigError, and every dataset class has a cheap `preflight(node)` run before anything
trains: on tiny files written in the real formats (tests/fake_data.py), garbage, cut-off and missing files fail
there, naming the file, and good files pass and still load."""

from __future__ import annotations

import functools
import inspect
import pickle
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from gansweep.config import ConfigError
from gansweep.data import cifar10
from gansweep.data.base import Preflight
from gansweep.data.celeba import CelebADataModule
from gansweep.data.checks import DataFileError
from gansweep.data.cifar10 import CIFAR10DataModule
from gansweep.data.image_folder import ImageFolderDataModule
from gansweep.data.images import MissingDataError
from gansweep.data.stl10 import STL10DataModule
from tests import fake_data as fake
from tests.conftest import compose_config
from tests.test_image_data import expected_cifar, write_cifar_archive

CONF = Path(__file__).resolve().parents[1] / "conf"
CIFAR_FORMAT = "a CIFAR-10 python batch: a pickled dict with b'data' (N x 3072 uint8) and b'labels'"
STL_FORMAT = "STL-10 binary images: no header, 27648 bytes (3x96x96 uint8, column-major) per image"
IMAGE_FORMAT = "an image Pillow decodes"
LMDB_FORMAT = "an LMDB database"


@functools.lru_cache(maxsize=None)
def composed(overrides: str) -> DictConfig:
    """The dataset node `gansweep OVERRIDES` composes (once per overrides: composing takes ~0.2 s)."""
    return compose_config(overrides.split()).dataset


def node(name: str, root: Any, tmp_path: Path, **keys: Any) -> DictConfig:
    """conf/dataset/NAME.yaml's node as a run gets it, on `root`, with no decoding workers and a private cache."""
    settings = {"root": None if root is None else str(root), "num_workers": 0, "cache_dir": str(tmp_path / "cache")}
    return OmegaConf.merge(composed(f"dataset={name}"), {**settings, **keys})


def preflight(config: Any) -> None:
    """What a launcher does before the sweep: the node's class's preflight on the node itself."""
    get_class(str(config["_target_"])).preflight(config)


def named(err: BaseException, path: Path, expected: str, *more: str) -> str:
    """Assert `err` is the one-line ConfigError on dataset.root naming `path`, its size and the format; its message."""
    message = str(err)
    assert isinstance(err, ConfigError) and err.key == "dataset.root", (type(err), message)
    assert "\n" not in message, message
    size = f"{path.stat().st_size} bytes" if path.exists() else "size unknown"
    for needle in (str(path), size, expected, "To fix:", *more):
        assert needle in message, (needle, message)
    return message


def both_fail(path: Path, expected: str, read: Callable[[], Any], config: Any, *more: str) -> None:
    """The reader and the preflight both fail on `path`, naming it and what was expected."""
    with pytest.raises(ConfigError) as from_reader:
        read()
    named(from_reader.value, path, expected, *more)
    with pytest.raises(ConfigError) as from_preflight:
        preflight(config)
    named(from_preflight.value, path, expected, *more)


def fast(config: Any) -> float:
    start = time.perf_counter()
    preflight(config)
    return time.perf_counter() - start


# -- CIFAR-10 ------------------------------------------------------------------------------------------------
@pytest.fixture
def cifar_root(tmp_path) -> Path:
    root = tmp_path / "data"
    fake.write_cifar_folder(root / "cifar-10-batches-py", fake.cifar_batches())
    return root


def cifar_module(root: Path, tmp_path: Path, **keys: Any) -> CIFAR10DataModule:
    return instantiate(node("cifar10", root, tmp_path, **keys), seed=0)


def test_cifar10_garbage_batch_is_named_by_reader_and_preflight(tmp_path, cifar_root):
    bad = cifar_root / "cifar-10-batches-py" / "data_batch_2"
    bad.write_bytes(b"<html>503 Service Unavailable</html>\n" * 20)  # what a failed download often leaves
    both_fail(bad, CIFAR_FORMAT, cifar_module(cifar_root, tmp_path).read, node("cifar10", cifar_root, tmp_path))
    with pytest.raises(ConfigError) as err:
        cifar_module(cifar_root, tmp_path).read()
    assert err.value.__cause__ is not None and "dataset.download=true" in str(err.value)


def test_cifar10_truncated_batch_is_named_by_reader_and_preflight(tmp_path, cifar_root):
    bad = cifar_root / "cifar-10-batches-py" / "data_batch_5"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    both_fail(bad, CIFAR_FORMAT, cifar_module(cifar_root, tmp_path).read, node("cifar10", cifar_root, tmp_path))
    with pytest.raises(ConfigError, match="truncated"):
        preflight(node("cifar10", cifar_root, tmp_path))


def test_cifar10_another_pickle_is_named_by_reader_and_preflight(tmp_path, cifar_root):
    bad = cifar_root / "cifar-10-batches-py" / "data_batch_1"  # the first batch: the one preflight reads whole
    bad.write_bytes(fake.py2_pickle({"labels": [1, 2], "filenames": ["a.png", "b.png"]}))
    both_fail(bad, CIFAR_FORMAT, cifar_module(cifar_root, tmp_path).read, node("cifar10", cifar_root, tmp_path))
    bad.write_bytes(fake.py2_pickle({"labels": [1, 2, 3], "data": fake.cifar_batches(2)["test_batch"]["data"]}))
    with pytest.raises(ConfigError, match=r"2 images but labels of shape \(3,\)"):
        preflight(node("cifar10", cifar_root, tmp_path))


def test_cifar10_refused_pickle_is_named_and_still_an_unpickling_error(tmp_path, cifar_root):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = cifar_root / "cifar-10-batches-py" / "test_batch"
    bad.write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError) as err:
        cifar_module(cifar_root, tmp_path, split="test").read()
    named(err.value, bad, CIFAR_FORMAT, r"does not refer to __builtin__.print")


def test_cifar10_garbage_and_truncated_archive(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    archive = write_cifar_archive(root / "cifar-10-python.tar.gz", fake.cifar_batches())
    good = archive.read_bytes()
    expected = "the official cifar-10-python.tar.gz: a gzip-compressed tar"
    archive.write_bytes(good[: len(good) // 2])
    both_fail(archive, expected, cifar_module(root, tmp_path).read, node("cifar10", root, tmp_path))
    with pytest.raises(ConfigError, match="trailer is not that of a tar: a truncated copy"):
        preflight(node("cifar10", root, tmp_path))
    archive.write_bytes(b"Not Found" * 40)
    both_fail(archive, expected, cifar_module(root, tmp_path).read, node("cifar10", root, tmp_path), "not a gzip file")
    archive.write_bytes(good)
    preflight(node("cifar10", root, tmp_path))


def test_cifar10_missing_batch_is_named_by_preflight(tmp_path, cifar_root):
    (cifar_root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(MissingDataError) as err:
        preflight(node("cifar10", cifar_root, tmp_path))
    assert isinstance(err.value, ConfigError) and err.value.key == "dataset.root"
    assert f"{cifar_root / 'cifar-10-batches-py'} lacks data_batch_4" in str(err.value)
    assert "dataset.root=PATH" in str(err.value) and "dataset.download=true" in str(err.value)
    preflight(node("cifar10", cifar_root, tmp_path, split="test"))  # the test split's file is there


def test_cifar10_preflight_with_download_checks_the_folder_and_downloads_nothing(tmp_path, monkeypatch):
    def no_download(*args):
        raise AssertionError("preflight downloaded")

    monkeypatch.setattr(cifar10, "download", no_download)
    preflight(node("cifar10", tmp_path / "new" / "folder", tmp_path, download=True))  # the run will download
    assert not (tmp_path / "new").exists()
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ConfigError, match="cannot write cifar-10-python.tar.gz") as err:
        preflight(node("cifar10", tmp_path / "a_file" / "folder", tmp_path, download=True))
    assert err.value.key == "dataset.root"
    with pytest.raises(MissingDataError):
        preflight(node("cifar10", tmp_path / "new", tmp_path, download=False))


def test_cifar10_download_true_still_checks_files_already_there(tmp_path, cifar_root, monkeypatch):
    monkeypatch.setattr(cifar10, "download", lambda *args: pytest.fail("the files are there"))
    preflight(node("cifar10", cifar_root, tmp_path, download=True))
    (cifar_root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ConfigError, match="data_batch_3"):
        preflight(node("cifar10", cifar_root, tmp_path, download=True))


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_valid_files_pass_and_load(tmp_path, cifar_root, split):
    config = node("cifar10", cifar_root, tmp_path, split=split)
    assert fast(config) < 0.5
    images = cifar_module(cifar_root, tmp_path, split=split).read()
    assert torch.equal(images, expected_cifar(fake.cifar_batches(), split)[0])


def test_cifar10_preflight_of_a_real_size_batch_is_fast(tmp_path):
    root = tmp_path / "data"
    fake.write_cifar_folder(root, {"test_batch": fake.cifar_batches(10000)["test_batch"]})  # 30 MB, as the official one
    assert (root / "test_batch").stat().st_size > 30_000_000
    assert fast(node("cifar10", root, tmp_path, split="test")) < 1.0


# -- STL-10 --------------------------------------------------------------------------------------------------
def stl_images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 96, 96), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)


def test_stl10_garbage_and_truncated_files_are_named(tmp_path):
    bad = tmp_path / "unlabeled_X.bin"
    for content in (b"<html>404</html>", bytes(3 * 96 * 96 * 2 - 100)):  # garbage; two images, cut off
        bad.write_bytes(content)
        both_fail(
            bad,
            STL_FORMAT,
            lambda: STL10DataModule(root=str(tmp_path), num_workers=0),  # STL-10 checks sizes at construction
            node("stl10", tmp_path, tmp_path),
            "truncated",
        )


def test_stl10_file_cut_after_the_check_is_named_by_the_reader(tmp_path):
    fake.write_stl(tmp_path, stl_images(2))
    module = instantiate(node("stl10", tmp_path, tmp_path), seed=0)
    bad = tmp_path / "unlabeled_X.bin"
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(ConfigError) as err:
        module.read()
    named(err.value, bad, STL_FORMAT)
    bad.write_bytes(b"")
    with pytest.raises(ConfigError) as err:
        preflight(node("stl10", tmp_path, tmp_path))
    named(err.value, bad, STL_FORMAT, "an empty file")


def test_stl10_bad_labels_are_named_by_reader_and_preflight(tmp_path):
    fake.write_stl(tmp_path / "stl10_binary", stl_images(3), "train_X.bin")
    labels = tmp_path / "stl10_binary" / "train_y.bin"
    labels.write_bytes(bytes([1, 2, 3]))
    module = instantiate(node("stl10", tmp_path, tmp_path, split="train", resolution=96), seed=0)
    labels.write_bytes(bytes([1, 2]))  # one short
    both_fail(labels, "STL-10 binary labels", module.read, node("stl10", tmp_path, tmp_path, split="train"), "2 labels")
    labels.write_bytes(bytes([1, 0, 11]))
    with pytest.raises(ConfigError, match="labels from 0 to 11"):
        preflight(node("stl10", tmp_path, tmp_path, split="train"))


def test_stl10_missing_files_are_named_by_preflight(tmp_path):
    with pytest.raises(MissingDataError, match="unlabeled_X.bin") as err:
        preflight(node("stl10", tmp_path, tmp_path))
    assert err.value.key == "dataset.root"
    fake.write_stl(tmp_path / "stl10_binary", stl_images(2), "test_X.bin")
    with pytest.raises(MissingDataError, match=f"{tmp_path / 'stl10_binary'} lacks test_y.bin"):
        preflight(node("stl10", tmp_path, tmp_path, split="test"))


def test_stl10_valid_files_pass_and_load(tmp_path):
    images = stl_images(4)
    fake.write_stl(tmp_path / "stl10_binary", images, "train_X.bin")
    (tmp_path / "stl10_binary" / "train_y.bin").write_bytes(bytes([1, 10, 4, 5]))
    config = node("stl10", tmp_path, tmp_path, split="train", resolution=96)
    assert fast(config) < 0.5
    module = instantiate(config, seed=0)
    assert torch.equal(module.read(), images) and module.labels.tolist() == [0, 9, 3, 4]


def test_stl10_preflight_of_a_real_size_file_is_fast(tmp_path):
    with open(tmp_path / "unlabeled_X.bin", "wb") as f:  # 100,000 images (2.8 GB), sparse: nothing is written
        f.truncate(100_000 * 3 * 96 * 96)
    assert fast(node("stl10", tmp_path, tmp_path)) < 0.5


# -- image folders: any folder, CelebA, LSUN as a folder -------------------------------------------------------
FOLDERS = {  # dataset -> the folder its images go in, under dataset.root
    "image_folder": ".",
    "celeba64": "img_align_celeba",
    "lsun_bedroom64": "photos",
}


def folder_config(name: str, root: Path, tmp_path: Path, **keys: Any) -> DictConfig:
    return node(name, root, tmp_path, resolution=8, crop=None, **keys)


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_image_folder_garbage_image_is_named_by_reader_and_preflight(tmp_path, name):
    folder = tmp_path / "data" / FOLDERS[name]
    folder.mkdir(parents=True)
    bad = folder / "000001.jpg"
    bad.write_text("this is not a JPEG")
    config = folder_config(name, tmp_path / "data", tmp_path)
    both_fail(bad, IMAGE_FORMAT, instantiate(config, seed=0).read, config, "UnidentifiedImageError")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_image_folder_truncated_image_is_named_by_reader_and_preflight(tmp_path, fmt):
    bad = tmp_path / f"a.{fmt.lower()}"
    data = fake.encoded(fake.framed(64, 48, 48, fake.RED), fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    bad.write_bytes(data[: len(data) // 2])
    config = folder_config("image_folder", tmp_path, tmp_path)
    both_fail(bad, IMAGE_FORMAT, instantiate(config, seed=0).read, config, "truncated")


def test_image_decoded_by_workers_is_named_in_one_line(tmp_path):
    fake.framed(20, 20, 20, fake.GREEN).save(tmp_path / "a.png")
    bad = tmp_path / "b.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    config = folder_config("image_folder", tmp_path, tmp_path, num_workers=2)
    with pytest.raises(DataFileError) as err:
        instantiate(config, seed=0).read()
    named(err.value, bad, IMAGE_FORMAT)


def test_image_smaller_than_the_crop_names_the_crop_key(tmp_path):
    fake.framed(20, 30, 20, fake.GREEN).save(tmp_path / "a.png")
    config = node("image_folder", tmp_path, tmp_path, resolution=8, crop=25)
    with pytest.raises(ConfigError, match=r"cannot crop 25x25 from a 20x30 image") as err:
        preflight(config)
    assert err.value.key == "dataset.crop" and str(tmp_path / "a.png") in str(err.value)
    with pytest.raises(ConfigError, match="dataset.crop=25"):
        instantiate(config, seed=0).read()


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_image_folder_missing_images_are_named_by_preflight(tmp_path, name):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(MissingDataError) as err:
        preflight(folder_config(name, tmp_path, tmp_path))
    assert err.value.key == "dataset.root" and f"in {tmp_path}." in str(err.value)
    wanted = {"image_folder": ".jpg", "celeba64": "img_align_celeba/", "lsun_bedroom64": "bedroom_train_lmdb/"}
    assert wanted[name] in str(err.value)


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_image_folder_valid_images_pass_and_load(tmp_path, name):
    folder = tmp_path / FOLDERS[name]
    folder.mkdir(parents=True, exist_ok=True)
    fake.framed(20, 26, 20, fake.GREEN).save(folder / "000001.png")
    fake.framed(30, 20, 20, fake.RED).save(folder / "000002.webp", lossless=True)
    config = folder_config(name, tmp_path, tmp_path)
    assert fast(config) < 0.5
    images = instantiate(config, seed=0).read()
    assert images.shape == (2, 3, 8, 8) and images.dtype == torch.uint8


# -- LSUN's LMDB ---------------------------------------------------------------------------------------------
@pytest.fixture
def lsun_root(tmp_path) -> Path:
    pytest.importorskip("lmdb")
    root = tmp_path / "data"
    root.mkdir()
    image = fake.encoded(fake.framed(20, 16, 16, fake.RED), "WEBP")
    fake.write_lmdb(root / "bedroom_train_lmdb", {b"%02d" % i: image for i in range(3)})
    return root


def test_lsun_garbage_lmdb_is_named_by_reader_and_preflight(tmp_path, lsun_root):
    data = lsun_root / "bedroom_train_lmdb" / "data.mdb"
    data.write_bytes(b"garbage" * 1000)
    config = folder_config("lsun_bedroom64", lsun_root, tmp_path)
    both_fail(data, LMDB_FORMAT, instantiate(config, seed=0).read, config, "MDB_INVALID")


def test_lsun_truncated_lmdb_is_named_not_a_crash(tmp_path, lsun_root):
    data = lsun_root / "bedroom_train_lmdb" / "data.mdb"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # reading it as it is would be a SIGBUS
    config = folder_config("lsun_bedroom64", lsun_root, tmp_path)
    both_fail(data, LMDB_FORMAT, instantiate(config, seed=0).read, config, "truncated")


def test_lsun_entry_that_is_not_an_image_is_named_with_its_key(tmp_path, lsun_root):
    lmdb_dir = lsun_root / "bedroom_train_lmdb"
    fake.write_lmdb(lmdb_dir, {b"00": b"not an image"})  # the first key in LMDB order: the entry preflight decodes
    config = folder_config("lsun_bedroom64", lsun_root, tmp_path)
    both_fail(lmdb_dir / "data.mdb", IMAGE_FORMAT, instantiate(config, seed=0).read, config, "entry b'00'")


def test_lsun_empty_lmdb_and_missing_lmdb_are_named_by_preflight(tmp_path):
    pytest.importorskip("lmdb")
    fake.write_lmdb(tmp_path / "bedroom_train_lmdb", {})
    with pytest.raises(ConfigError) as err:
        preflight(folder_config("lsun_bedroom64", tmp_path, tmp_path))
    named(err.value, tmp_path / "bedroom_train_lmdb" / "data.mdb", LMDB_FORMAT, "no entries")
    (tmp_path / "bedroom_train_lmdb" / "data.mdb").unlink()
    with pytest.raises(MissingDataError, match="data.mdb"):
        preflight(folder_config("lsun_bedroom64", tmp_path, tmp_path))


def test_lsun_valid_lmdb_passes_and_loads(tmp_path, lsun_root):
    config = folder_config("lsun_bedroom64", lsun_root, tmp_path)
    assert fast(config) < 0.5
    assert instantiate(config, seed=0).read().shape == (3, 3, 8, 8)


def test_lsun_preflight_without_the_lmdb_package_is_a_config_error(tmp_path, lsun_root, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "lmdb" else object())
    with pytest.raises(ConfigError, match=r'pip install "gansweep\[lsun\]"') as err:
        preflight(folder_config("lsun_bedroom64", lsun_root, tmp_path))
    assert err.value.key == "dataset"


# -- every dataset config ------------------------------------------------------------------------------------
def dataset_configs() -> list:
    """conf/dataset/NAME.yaml with a _target_ (the datasets a run can choose)."""
    return sorted(p.stem for p in (CONF / "dataset").glob("*.yaml") if "_target_" in yaml.safe_load(p.read_text()))


def smoke_configs() -> list:
    """The datasets conf/debug/dataset/ has a debug=smoke variant of."""
    return sorted(p.stem.removeprefix("smoke_") for p in (CONF / "debug" / "dataset").glob("smoke_*.yaml"))


def test_every_dataset_class_has_its_own_preflight():
    assert len(dataset_configs()) >= 12 and smoke_configs()
    for name in dataset_configs():
        cls = get_class(str(composed(f"dataset={name}")["_target_"]))
        assert issubclass(cls, Preflight), name
        assert inspect.ismethod(cls.preflight) and cls.preflight.__self__ is cls, name  # a classmethod
        assert list(inspect.signature(cls.preflight).parameters) == ["node"], name


def write_valid_root(dataset: DictConfig, root: Path) -> None:
    if str(dataset["_target_"]).endswith("ImageFolderDataModule"):
        root.mkdir(parents=True)
        for i in range(4):
            fake.framed(20, 20, 20, (40 * i, 90, 90)).save(root / f"{i}.png")
    else:
        fake.write_dataset_root(OmegaConf.to_container(dataset), root, 4)


@pytest.mark.parametrize("debug", [False, True])
def test_every_dataset_config_preflights_and_loads_valid_files(tmp_path, debug):
    names = smoke_configs() if debug else dataset_configs()
    for name in names:
        if name.startswith("lsun"):
            pytest.importorskip("lmdb")
        dataset = composed(f"dataset={name}" + (" debug=smoke" if debug else ""))
        if "root" not in dataset:  # the toy distributions: no files, nothing to check
            preflight(dataset)
            continue
        root = tmp_path / name / "data"
        write_valid_root(dataset, root)
        config = OmegaConf.merge(dataset, {"root": str(root), "num_workers": 0, "cache_dir": str(tmp_path / "cache")})
        if name == "stacked_digits":
            config = OmegaConf.merge(config, {"size": 8})
        assert fast(config) < 0.5, name
        module = instantiate(config, seed=0)
        module.configure_batches(batch_size=2, per_step=1, steps=1)
        module.setup("fit")
        assert module.images is not None and len(module.images) >= 2, name


def test_dataset_values_that_cannot_work_are_config_errors():
    with pytest.raises(ConfigError, match="dataset.size=0 must be positive") as err:
        preflight(OmegaConf.merge(composed("dataset=stacked_digits"), {"size": 0}))
    assert err.value.key == "dataset"
    with pytest.raises(ConfigError, match="dataset.split='valid'"):
        preflight({"_target_": "gansweep.data.stl10.STL10DataModule", "split": "valid", "root": "/nowhere"})
    assert preflight({"_target_": "gansweep.data.toy.ToyDataModule", "name": "ring8"}) is None


# -- the errors themselves -----------------------------------------------------------------------------------
def test_errors_cross_processes_with_their_key_and_path(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_text("not a png")
    with pytest.raises(DataFileError) as err:
        ImageFolderDataModule(root=str(tmp_path), num_workers=0).read()
    again = pickle.loads(pickle.dumps(err.value))
    assert type(again) is DataFileError and str(again) == str(err.value)
    assert again.key == "dataset.root" and again.path == bad
    missing = pickle.loads(pickle.dumps(MissingDataError("stl10", tmp_path, "unlabeled_X.bin")))
    assert isinstance(missing, ConfigError) and isinstance(missing, FileNotFoundError)
    assert missing.key == "dataset.root"


def test_preflight_takes_a_plain_dict_node(tmp_path):
    (tmp_path / "img_align_celeba").mkdir()
    fake.framed(178, 218, 108, fake.GREEN).save(tmp_path / "img_align_celeba" / "000001.png")
    CelebADataModule.preflight({"_target_": "gansweep.data.celeba.CelebADataModule", "root": str(tmp_path)})
    (tmp_path / "img_align_celeba" / "000001.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="000001.png"):
        CelebADataModule.preflight({"_target_": "gansweep.data.celeba.CelebADataModule", "root": str(tmp_path)})
