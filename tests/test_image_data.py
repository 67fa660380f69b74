"""Image sources against tiny files written in their real formats: CIFAR-10 pickles and .tar.gz, STL-10 binaries,
a CelebA JPEG folder, an LSUN LMDB, an image folder; stacked digits; the transforms; the missing-data messages."""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
import sys
import tarfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image, JpegImagePlugin

from gansweep.data import cifar10
from gansweep.data.celeba import CelebADataModule
from gansweep.data.cifar10 import CIFAR10DataModule
from gansweep.data.digits import StackedDigitsDataModule
from gansweep.data.image_folder import ImageFolderDataModule
from gansweep.data.images import MissingDataError
from gansweep.data.lsun import LSUNDataModule
from gansweep.data.stl10 import STL10DataModule
from gansweep.data.transforms import center_crop, center_square, decode, load_square, resize
from tests.conftest import compose_config
from tests.fake_data import (
    BLUE,
    GREEN,
    RED,
    cifar_batches,
    encoded,
    framed,
    py2_pickle,
    write_cifar_folder,
    write_lmdb,
    write_stl,
)


def opts(tmp_path: Path, **kwargs) -> dict:
    """Base keys for a test: no decoding workers, a private cache, seed 0."""
    return {"seed": 0, "num_workers": 0, "cache_dir": str(tmp_path / "cache"), **kwargs}


def close_to(images: torch.Tensor, color, tol: int) -> bool:
    return bool((images.int() - torch.tensor(color).view(3, 1, 1)).abs().max() <= tol)


def batches_through(dm, batch_size: int = 4, per_step: int = 2) -> torch.Tensor:
    """setup -> train_dataloader -> on_after_batch_transfer, as the trainer does on the CPU."""
    dm.configure_batches(batch_size=batch_size, per_step=per_step, steps=3)
    dm.setup("fit")
    batches = [dm.on_after_batch_transfer(b, 0) for b in dm.train_dataloader()]
    assert len(batches) == 3
    return batches[0]


# -- transforms ----------------------------------------------------------------------------------------------
def test_center_crop_takes_the_middle_with_torchvision_rounding():
    img = torch.arange(5 * 7).view(1, 5, 7)
    assert center_crop(img, 3).tolist() == [[[9, 10, 11], [16, 17, 18], [23, 24, 25]]]
    assert center_crop(img, (2, 2)).tolist() == [[[16, 17], [23, 24]]]  # offsets round(1.5) = round(2.5) = 2
    assert center_square(img).shape == (1, 5, 5) and center_square(img)[0, 0, 0] == 1
    with pytest.raises(ValueError, match="cannot crop 6x6"):
        center_crop(img, 6)


def test_resize_is_antialiased_and_keeps_orientation():
    stripes = (torch.arange(48) % 2 * 255).to(torch.uint8).view(1, 1, 48).expand(3, 48, 48)  # 1-px columns
    small = resize(stripes, 16)
    assert small.dtype == torch.uint8 and small.shape == (3, 16, 16)
    assert small[0, 0].tolist() == [128] + [113, 142] * 7 + [128]  # plain bilinear: 255, 0, 255, ... (aliased)
    rows = (torch.arange(40) * 6).to(torch.uint8).view(1, 40, 1).expand(2, 3, 40, 30)  # varies along H only
    out = resize(rows, (20, 10))
    assert out.shape == (2, 3, 20, 10) and (out == out[..., :1]).all() and (out[..., 1:, 0] >= out[..., :-1, 0]).all()
    assert resize(rows, (40, 30)) is rows


def test_decode_png_exactly_and_any_mode_to_rgb():
    pixels = torch.randint(0, 256, (9, 13, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    png = encoded(Image.fromarray(pixels.numpy()), "PNG")
    assert torch.equal(decode(png), pixels.permute(2, 0, 1))
    gray = decode(encoded(Image.new("L", (5, 4), 77), "PNG"))
    assert gray.shape == (3, 4, 5) and (gray == 77).all()
    rgba = decode(encoded(Image.new("RGBA", (5, 4), (1, 2, 3, 4)), "PNG"))
    assert rgba[:, 0, 0].tolist() == [1, 2, 3]


def test_load_square_jpeg_draft_matches_full_decode(tmp_path, monkeypatch):
    ys, xs = torch.meshgrid(torch.arange(500), torch.arange(600), indexing="ij")
    smooth = torch.stack([xs * 255 // 599, ys * 255 // 499, torch.full_like(xs, 128)]).to(torch.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(smooth.permute(1, 2, 0).numpy()).save(path, quality=95)  # 600x500
    drafts = []
    draft = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda im, *a: drafts.append(a) or draft(im, *a))
    fast = load_square(path, 32, crop=400)  # 400 -> 32: decodes 600x500 at 1/8 scale, 75x63
    assert drafts == [("RGB", (48, 40))]
    full = resize(center_crop(decode(path), 400), 32)
    assert fast.shape == (3, 32, 32) and (fast.int() - full.int()).abs().float().mean() < 2.0
    with pytest.raises(ValueError, match="cannot crop 501x501"):
        load_square(path, 32, crop=501)


# -- CIFAR-10 ------------------------------------------------------------------------------------------------


def write_cifar_archive(path: Path, batches: dict) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, batch in batches.items():
            data = py2_pickle(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def expected_cifar(batches: dict, split: str) -> tuple:
    names = [f"data_batch_{k}" for k in range(1, 6)] if split == "train" else ["test_batch"]
    images = torch.cat([torch.from_numpy(batches[n]["data"]).view(-1, 3, 32, 32) for n in names])
    return images, torch.tensor([label for n in names for label in batches[n]["labels"]])


@pytest.mark.parametrize("layout", ["extracted", "flat", "archive"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_reads_every_layout(tmp_path, layout, split):
    batches = cifar_batches()
    if layout == "extracted":
        write_cifar_folder(tmp_path / "cifar-10-batches-py", batches)
    elif layout == "flat":
        write_cifar_folder(tmp_path, batches)
    else:
        write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", batches)
    dm = CIFAR10DataModule(root=str(tmp_path), split=split, **opts(tmp_path))
    images = dm.read()
    want_images, want_labels = expected_cifar(batches, split)
    assert images.dtype == torch.uint8 and images.shape == (20 if split == "train" else 4, 3, 32, 32)
    assert torch.equal(images, want_images) and torch.equal(dm.labels, want_labels)


def test_cifar10_batches_through_the_datamodule(tmp_path):
    batches = cifar_batches()
    write_cifar_folder(tmp_path / "cifar-10-batches-py", batches)
    dm = CIFAR10DataModule(root=str(tmp_path), **opts(tmp_path))
    batch = batches_through(dm)
    assert batch.dtype == torch.float32 and batch.shape == (2, 4, 3, 32, 32)
    assert batch.min() >= -1 and batch.max() <= 1
    scaled = expected_cifar(batches, "train")[0].float() / 127.5 - 1
    for image in batch.flatten(0, 1):  # every real image is a training image, exactly
        assert (scaled - image).abs().flatten(1).amax(1).min() < 1e-6


def test_cifar10_refuses_a_pickle_that_calls_anything(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    write_cifar_folder(tmp_path, cifar_batches())
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"does not refer to __builtin__\.print"):
        CIFAR10DataModule(root=str(tmp_path), **opts(tmp_path)).read()


@pytest.fixture
def served(tmp_path) -> Iterator[tuple]:
    """A local HTTP server holding a tiny official-layout cifar-10-python.tar.gz: (url, md5, batches)."""
    site = tmp_path / "site"
    site.mkdir()
    batches = cifar_batches()
    archive = write_cifar_archive(site / "cifar-10-python.tar.gz", batches)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
        yield url, hashlib.md5(archive.read_bytes()).hexdigest(), batches
    finally:
        server.shutdown()
        thread.join()


def test_cifar10_downloads_checks_md5_and_reads_the_archive(tmp_path, served, monkeypatch):
    url, md5, batches = served
    monkeypatch.setattr(cifar10, "URL", url)
    monkeypatch.setattr(cifar10, "MD5", md5)
    monkeypatch.setattr(cifar10, "DEFAULT_DOWNLOAD_ROOT", str(tmp_path / "default"))
    dm = CIFAR10DataModule(root=None, download=True, **opts(tmp_path))  # no root: the default folder
    assert sorted(p.name for p in (tmp_path / "default").iterdir()) == ["cifar-10-python.tar.gz"]
    assert torch.equal(dm.read(), expected_cifar(batches, "train")[0])
    again = CIFAR10DataModule(root=str(tmp_path / "default"), download=True, **opts(tmp_path))
    assert again.source() == tmp_path / "default" / "cifar-10-python.tar.gz"  # found, not fetched again


def test_cifar10_download_with_a_wrong_md5_fails_and_leaves_nothing(tmp_path, served, monkeypatch):
    url, _, _ = served
    monkeypatch.setattr(cifar10, "URL", url)
    monkeypatch.setattr(cifar10, "MD5", "0" * 32)
    with pytest.raises(MissingDataError, match=r"md5 [0-9a-f]{32}, expected 0{32}") as err:
        CIFAR10DataModule(root=str(tmp_path / "data"), download=True, **opts(tmp_path))
    assert url in str(err.value)
    assert list((tmp_path / "data").iterdir()) == []


# -- STL-10 --------------------------------------------------------------------------------------------------


def test_stl10_is_read_untransposed(tmp_path):
    images = torch.randint(0, 256, (5, 3, 96, 96), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    write_stl(tmp_path / "stl10_binary", images)
    dm = STL10DataModule(root=str(tmp_path), resolution=96, **opts(tmp_path))
    assert torch.equal(dm.read(), images)


def test_stl10_resized_gradient_keeps_its_direction(tmp_path):
    rows = (torch.arange(96) * 2).to(torch.uint8)  # a gradient down H, constant along W
    images = rows.view(1, 1, 96, 1).expand(3, 3, 96, 96).clone()
    images[:, 1] = 255 - images[:, 1]
    write_stl(tmp_path, images)
    out = STL10DataModule(root=str(tmp_path), resolution=48, **opts(tmp_path)).read()
    assert out.shape == (3, 3, 48, 48) and out.dtype == torch.uint8
    assert (out == out[..., :1]).all()  # constant along W
    assert (out[:, 0, 1:, 0] > out[:, 0, :-1, 0]).all() and (out[:, 1, 1:, 0] < out[:, 1, :-1, 0]).all()
    assert abs(int(out[0, 0, 0, 0]) - 1) <= 1 and abs(int(out[0, 0, -1, 0]) - 189) <= 1  # the 2x filter at the edges


def test_stl10_labelled_split(tmp_path):
    images = torch.randint(0, 256, (4, 3, 96, 96), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    write_stl(tmp_path, images, "train_X.bin")
    (tmp_path / "train_y.bin").write_bytes(bytes([1, 10, 3, 7]))
    dm = STL10DataModule(root=str(tmp_path), split="train", resolution=96, **opts(tmp_path))
    assert torch.equal(dm.read(), images) and dm.labels.tolist() == [0, 9, 2, 6]


def test_stl10_truncated_file_fails_at_construction(tmp_path):
    (tmp_path / "unlabeled_X.bin").write_bytes(bytes(3 * 96 * 96 + 5))
    with pytest.raises(ValueError, match="truncated"):
        STL10DataModule(root=str(tmp_path), **opts(tmp_path))


def test_decode_cache_is_reused_and_keyed_by_settings(tmp_path, monkeypatch):
    images = torch.randint(0, 256, (6, 3, 96, 96), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    write_stl(tmp_path, images)
    first = STL10DataModule(root=str(tmp_path), resolution=48, **opts(tmp_path))
    first.configure_batches(batch_size=2, per_step=1, steps=1)
    first.setup()
    calls = []
    monkeypatch.setattr(STL10DataModule, "read", lambda self: calls.append(1) or torch.zeros(0))
    second = STL10DataModule(root=str(tmp_path), resolution=48, **opts(tmp_path))
    second.configure_batches(batch_size=2, per_step=1, steps=1)
    second.setup()
    assert calls == [] and torch.equal(second.images, first.images)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    monkeypatch.undo()
    third = STL10DataModule(root=str(tmp_path), resolution=32, **opts(tmp_path))
    third.configure_batches(batch_size=2, per_step=1, steps=1)
    third.setup()
    assert third.images.shape == (6, 3, 32, 32) and len(list((tmp_path / "cache").iterdir())) == 2


# -- CelebA, LSUN, image folders -----------------------------------------------------------------------------
def test_celeba_crops_the_face_square(tmp_path):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    sizes = [(178, 218), (179, 217), (181, 220), (178, 219), (180, 218)]
    for i, (w, h) in enumerate(sizes):
        framed(w, h, 108).save(folder / f"{i + 1:06d}.jpg", quality=95)
    dm = CelebADataModule(root=str(tmp_path), crop=108, **opts(tmp_path, num_workers=2))
    images = dm.read()
    assert images.shape == (5, 3, 64, 64) and images.dtype == torch.uint8
    assert close_to(images[:, :, 1:-1, 1:-1], GREEN, 20)  # JPEG ringing at the very edge
    wider = CelebADataModule(root=str(folder), crop=140, **opts(tmp_path)).read()  # root = the folder itself
    assert close_to(wider[:, :, 28:36, 28:36], GREEN, 20) and close_to(wider[:, :, :2, :2], BLUE, 30)


def test_celeba_batches_and_cache(tmp_path, monkeypatch):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    for i in range(6):
        framed(178, 218, 108, inner=(40 * i, 100, 100)).save(folder / f"{i + 1:06d}.jpg", quality=95)
    first = CelebADataModule(root=str(tmp_path), **opts(tmp_path))
    batch = batches_through(first, batch_size=3)
    assert batch.shape == (2, 3, 3, 64, 64) and batch.min() >= -1 and batch.max() <= 1
    with monkeypatch.context() as patch:
        patch.setattr(CelebADataModule, "read", lambda self: pytest.fail("decoded again"))
        cached = CelebADataModule(root=str(tmp_path), **opts(tmp_path))
        cached.configure_batches(batch_size=3, per_step=1, steps=1)
        cached.setup()
    assert torch.equal(cached.images, first.images)
    framed(178, 218, 108).save(folder / "000007.jpg")  # one more file: a new signature, a new cache entry
    fresh = CelebADataModule(root=str(tmp_path), **opts(tmp_path))
    fresh.configure_batches(batch_size=3, per_step=1, steps=1)
    fresh.setup()
    assert len(fresh.images) == 7 and len(list((tmp_path / "cache").iterdir())) == 2


def test_lsun_lmdb_of_webp_and_jpeg(tmp_path):
    pytest.importorskip("lmdb")
    entries = [  # (key, value, colour of the central square): lossless WebP decodes exactly, JPEG closely
        (hashlib.sha1(b"a").hexdigest().encode(), encoded(framed(56, 40, 40, RED), "WEBP", lossless=True), RED),
        (hashlib.sha1(b"b").hexdigest().encode(), encoded(framed(40, 61, 40, GREEN), "WEBP", lossless=True), GREEN),
        (hashlib.sha1(b"c").hexdigest().encode(), encoded(framed(90, 64, 64, BLUE, RED), "JPEG", quality=95), BLUE),
    ]
    write_lmdb(tmp_path / "church_outdoor_train_lmdb", {key: value for key, value, _ in entries})
    dm = LSUNDataModule(root=str(tmp_path), category="church_outdoor", resolution=16, **opts(tmp_path, num_workers=2))
    assert dm.name == "lsun_church64"
    images = dm.read()
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.uint8
    by_key = dict(zip(sorted(key for key, _, _ in entries), images, strict=True))  # LMDB order: sorted keys
    for key, value, color in entries:
        lossless = value.startswith(b"RIFF")
        assert close_to(by_key[key] if lossless else by_key[key][:, 2:-2, 2:-2], color, 0 if lossless else 20)
    lmdb_itself = str(tmp_path / "church_outdoor_train_lmdb")
    first_two = LSUNDataModule(root=lmdb_itself, resolution=16, max_images=2, **opts(tmp_path))
    assert torch.equal(first_two.read(), images[:2])


def test_lsun_without_lmdb_fails_at_construction(tmp_path, monkeypatch):
    (tmp_path / "bedroom_train_lmdb").mkdir()
    (tmp_path / "bedroom_train_lmdb" / "data.mdb").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "lmdb", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r'pip install "gansweep\[lsun\]"'):
        LSUNDataModule(root=str(tmp_path), **opts(tmp_path))


def test_lsun_folder_alternative(tmp_path):
    (tmp_path / "x" / "y").mkdir(parents=True)
    framed(30, 20, 20, RED).save(tmp_path / "x" / "y" / "a.webp", lossless=True)
    framed(20, 26, 20, GREEN).save(tmp_path / "b.png")
    images = LSUNDataModule(root=str(tmp_path), resolution=10, **opts(tmp_path)).read()
    assert close_to(images[0], GREEN, 0) and close_to(images[1], RED, 0)  # sorted paths: b.png, x/y/a.webp


def test_image_folder_is_recursive_and_exact_for_png(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    framed(13, 9, 9, RED).save(tmp_path / "a" / "1.png")
    framed(8, 11, 8, GREEN).save(tmp_path / "a" / "b" / "2.PNG")
    framed(40, 30, 30, BLUE, RED).save(tmp_path / "3.jpg", quality=95)
    framed(12, 12, 12, RED).save(tmp_path / "a" / "4.bmp")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    dm = ImageFolderDataModule(root=str(tmp_path), resolution=8, **opts(tmp_path))
    images = dm.read()
    assert images.shape == (4, 3, 8, 8) and images.dtype == torch.uint8
    assert [p.name for p in dm.files()] == ["3.jpg", "1.png", "4.bmp", "2.PNG"]  # sorted full paths
    assert close_to(images[1], RED, 0) and close_to(images[2], RED, 0) and close_to(images[3], GREEN, 0)
    assert close_to(images[0, :, 1:-1, 1:-1], BLUE, 20)
    two = ImageFolderDataModule(root=str(tmp_path), resolution=8, max_images=2, **opts(tmp_path)).read()
    assert torch.equal(two, images[:2])
    batch = batches_through(ImageFolderDataModule(root=str(tmp_path), resolution=8, **opts(tmp_path)), batch_size=2)
    assert batch.shape == (2, 2, 3, 8, 8) and batch.min() >= -1 and batch.max() <= 1


# -- stacked digits ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sklearn_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.as_tensor(digits.images * 255 / 16).round().view(-1, 1, 8, 8)
    up = F.interpolate(small, size=(32, 32), mode="bilinear", align_corners=False).round().clamp(0, 255)
    return up[:, 0].to(torch.uint8), torch.as_tensor(digits.target)


def test_stacked_digits_channels_are_real_digits(sklearn_digits):
    images_ref, targets = sklearn_digits
    dm = StackedDigitsDataModule(size=500, seed=3, num_workers=0)
    images = dm.read()
    assert images.shape == (500, 3, 32, 32) and images.dtype == torch.uint8 and dm.data_shape == (3, 32, 32)
    assert images.max() == 255 and dm.labels.min() >= 0 and dm.labels.max() <= 999
    classes_of: dict = {}  # an upscaled digit's bytes -> the classes of the sklearn digits that look like it
    for ref, target in zip(images_ref, targets.tolist(), strict=True):
        classes_of.setdefault(ref.numpy().tobytes(), set()).add(target)
    for image, label in zip(images, dm.labels.tolist(), strict=True):
        digits = [label // 100, label // 10 % 10, label % 10]
        assert [classes_of.get(channel.numpy().tobytes()) for channel in image] == [{d} for d in digits]


def test_stacked_digits_fixed_by_data_seed_and_covering_1000_modes():
    a, b = StackedDigitsDataModule(size=300, seed=0), StackedDigitsDataModule(size=300, seed=5)
    first, second = a.read(), b.read()  # the run seed does not change the training set
    assert torch.equal(first, second) and torch.equal(a.labels, b.labels)
    other = StackedDigitsDataModule(size=300, data_seed=1)
    assert not torch.equal(other.read(), first)
    full = StackedDigitsDataModule(seed=0)
    full.read()
    counts = torch.bincount(full.labels, minlength=1000)
    assert len(full.labels) == 60000 and (counts > 0).sum() == 1000 and counts.max() < 3 * 60


def test_stacked_digits_composes_as_the_default_image_dataset():
    cfg = compose_config(["dataset=stacked_digits", "dataset.size=256"])
    assert cfg.metrics._target_.endswith("DigitsEvaluation")  # not the toy metrics: they need 2-D modes
    dm = instantiate(cfg.dataset, seed=0)
    assert isinstance(dm, StackedDigitsDataModule) and dm.num_workers == cfg.dataset.num_workers
    batch = batches_through(dm, batch_size=64)
    assert batch.shape == (2, 64, 3, 32, 32) and batch.min() == -1 and batch.max() <= 1
    assert compose_config(["dataset=stacked_digits", "metrics=toy"]).metrics._target_ is not None


# -- missing data --------------------------------------------------------------------------------------------
MISSING = {
    "cifar10": ["cifar-10-batches-py/", "data_batch_1", "cifar-10-python.tar.gz", cifar10.URL, "dataset.download=true"],
    "stl10": ["unlabeled_X.bin", "stl10_binary", "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"],
    "celeba64": ["img_align_celeba/", "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"],
    "lsun_bedroom64": ["bedroom_train_lmdb/", "data.mdb", "http://dl.yf.io/lsun/scenes/bedroom_train_lmdb.zip"],
    "lsun_church64": ["church_outdoor_train_lmdb/", "http://dl.yf.io/lsun/scenes/church_outdoor_train_lmdb.zip"],
    "image_folder": [".jpg", ".png", "recursively"],
}


@functools.lru_cache(maxsize=None)
def composed_dataset(name: str) -> DictConfig:
    """conf/dataset/NAME.yaml as `gansweep dataset=NAME` composes it (once per name: composing takes ~0.2 s)."""
    return compose_config([f"dataset={name}"]).dataset


@pytest.mark.parametrize("name", sorted(MISSING))
@pytest.mark.parametrize("where", ["unset", "empty", "absent"])
def test_missing_data_fails_at_construction_with_what_to_do(tmp_path, name, where):
    root = {"unset": None, "empty": str(tmp_path), "absent": str(tmp_path / "nowhere")}[where]
    (tmp_path / "unrelated.txt").write_text("not the dataset")
    config = composed_dataset(name)
    start = time.perf_counter()
    with pytest.raises(Exception) as err:
        instantiate(config, seed=0, root=root)
    assert time.perf_counter() - start < 0.5
    cause = err.value if isinstance(err.value, MissingDataError) else err.value.__cause__
    assert isinstance(cause, MissingDataError)
    message = str(cause)
    for needle in MISSING[name] + [f"dataset={name}", "dataset.root="]:
        assert needle in message, (needle, message)
    assert ("dataset.root is not set" in message) if root is None else (f"in {root}." in message)
