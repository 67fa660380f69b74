"""The image path of the trainer: data drawn on the device, batch-norm critics, channels-last, sample grids,
divergence read at log intervals, and the missing-data error before any network is built."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import List

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from gansweep.cache import private_copies
from gansweep.callbacks.device import DeviceSettings
from gansweep.callbacks.samples import Samples
from gansweep.data.images import DeviceBatches
from gansweep.losses.nsgan import NSGANLoss
from gansweep.losses.wgan import WGANLoss
from gansweep.model.module import GANModule
from gansweep.model.points import GANPoint
from gansweep.models.base import GANNetworks
from gansweep.models.mlp import build_mlp
from gansweep.plots import save_image_grid
from tests.conftest import run_cli
from tests.fake_data import cifar_batches, write_cifar_folder
from tests.helpers import InMemory, fit_points

SHAPE = (3, 8, 8)
ADAM = partial(torch.optim.Adam, lr=1e-4, betas=(0.5, 0.9))


def images(n: int = 80, seed: int = 0) -> Tensor:
    return torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_device_batches_are_epochs_of_permutations():
    data = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    batches = list(DeviceBatches(data, batch_size=4, per_step=1, steps=5, seed=0))
    assert [tuple(b.shape) for b in batches] == [(1, 4, 1, 1, 1)] * 5
    drawn = torch.cat([b.flatten() for b in batches]).tolist()
    assert sorted(drawn[:10]) == list(range(10)) and sorted(drawn[10:20]) == list(range(10))  # no repeats in an epoch


def test_batches_are_scaled_to_minus_one_one_after_transfer():
    source = torch.tensor([0, 255, 128], dtype=torch.uint8).view(3, 1, 1, 1).expand(3, *SHAPE).contiguous()
    dm = InMemory(source)
    dm.configure_batches(batch_size=3, per_step=2, steps=1)
    dm.setup()
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert batch.shape == (2, 3, *SHAPE) and batch.dtype == torch.float32
    assert sorted(batch[0, :, 0, 0, 0].tolist()) == pytest.approx([-1.0, 128 / 127.5 - 1, 1.0], abs=1e-6)
    dm.dequantize = True  # WGAN-GP ResNet: (x + U[0, 1)) / 128 - 1
    noisy = dm.on_after_batch_transfer(torch.full((1, 1, *SHAPE), 255, dtype=torch.uint8), 0)
    assert ((noisy >= 255 / 128 - 1) & (noisy < 256 / 128 - 1)).all()


def test_the_dataloader_path_gives_the_same_batches_shape():
    dm = InMemory(images(), on_device=False, num_workers=0)
    dm.configure_batches(batch_size=8, per_step=3, steps=2)
    dm.setup()
    loader = dm.train_dataloader()
    assert isinstance(loader, torch.utils.data.DataLoader)  # on_device=false on a GPU: workers + pinned memory
    assert [tuple(b.shape) for b in loader] == [(3, 8, *SHAPE)] * 2


def test_a_set_smaller_than_the_batch_fails_with_the_key():
    dm = InMemory(images(4))
    dm.configure_batches(batch_size=8, per_step=1, steps=1)
    with pytest.raises(ValueError, match="train.batch_size=8"):
        dm.setup()


def test_decoded_sources_are_cached_per_signature(tmp_path):
    class Decoded(InMemory):
        def cache_signature(self):
            return str(self.source.sum().item())

    first = Decoded(images(), cache_dir=str(tmp_path))
    first.setup()
    with private_copies():  # not the tensor `first` holds (gansweep.cache.SHARED): the file
        second = Decoded(images(), cache_dir=str(tmp_path))
        second.setup()
    assert (first.reads, second.reads) == (1, 0) and torch.equal(second.images, images())
    third = Decoded(images(seed=1), cache_dir=str(tmp_path))  # other files: another cache entry
    third.setup()
    assert third.reads == 1 and len(list(tmp_path.glob("*.pt"))) == 2


class BatchNormCritic(nn.Module):
    """Records the batch size of every call: batch statistics must never mix real and fake."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(192, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2))
        self.out = nn.Linear(16, 1)
        self.calls: List[int] = []

    def forward(self, x: Tensor, return_features: bool = False):
        self.calls.append(x.shape[0])
        features = self.body(x)
        score = self.out(features).squeeze(-1)
        return (score, features) if return_features else score


def test_a_batch_norm_critic_scores_real_and_fake_in_separate_passes():
    mlp = build_mlp(SHAPE, z_dim=8, hidden=16, depth=1)
    critic = BatchNormCritic()
    point = GANPoint(GANNetworks(mlp.generator, critic, 8), [], (ADAM, ADAM))
    module = fit_points([(InMemory(images()), point)], NSGANLoss(), iters=2, batch_size=8)
    assert module.stack.critic_has_batch_norm and set(critic.calls) == {8}  # never 16 = real + fake together


def test_a_critic_without_batch_norm_keeps_one_pass():
    module = GANModule(GANPoint(build_mlp(SHAPE, z_dim=8, hidden=16), [], (ADAM, ADAM)), WGANLoss())
    assert not module.stack.critic_has_batch_norm


def test_divergence_is_read_every_log_interval_with_its_first_iteration(tmp_path):
    huge = partial(torch.optim.SGD, lr=1e30)
    point = GANPoint(build_mlp(SHAPE, z_dim=8, hidden=16), [], (huge, huge))
    module = fit_points([(InMemory(images()), point)], WGANLoss(), iters=40, batch_size=8, log_every=4)
    (health,) = module.health.points
    assert health.status == "diverged" and health.diverged_at is not None and health.ended_at == module.g_iters
    assert module.g_iters % 4 == 0 and 0 <= module.g_iters - health.diverged_at < 4  # stopped at the next read


def test_channels_last_runs_on_cpu_when_forced(tmp_path):
    class ConvCritic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.out = nn.Linear(4 * 64, 1)

        def forward(self, x: Tensor, return_features: bool = False):
            features = torch.relu(self.conv(x)).flatten(1)
            score = self.out(features).squeeze(-1)
            return (score, features) if return_features else score

    critic = ConvCritic()
    point = GANPoint(GANNetworks(build_mlp(SHAPE, z_dim=8).generator, critic, 8), [], (ADAM, ADAM))
    dm = InMemory(images())
    module = fit_points([(dm, point)], WGANLoss(), iters=2, batch_size=8, channels_last=True)
    assert critic.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert dm.channels_last and dm.images is not None and dm.images.is_contiguous(memory_format=torch.channels_last)
    assert module.g_iters == 2 and not torch.backends.cuda.matmul.allow_tf32  # auto: TF32 only on CUDA


def test_device_settings_are_checked():
    with pytest.raises(ValueError, match="train.channels_last"):
        DeviceSettings(channels_last="yes")


def test_image_grid_places_each_image_in_its_cell(tmp_path):
    values = torch.linspace(-1, 1, 6).view(6, 1, 1, 1).expand(6, 3, 4, 5)
    path = save_image_grid(tmp_path / "grid.png", values, nrow=3, padding=2)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (2 * 6 + 2, 3 * 7 + 2, 3)  # rows of (H + pad), columns of (W + pad), plus a border
    for i in range(6):
        top, left = 2 + (i // 3) * 6, 2 + (i % 3) * 7
        assert (grid[top : top + 4, left : left + 5] == round((values[i, 0, 0, 0].item() + 1) * 127.5)).all()
    assert (grid[:2] == 0).all()  # padding


def test_samples_every_n_iterations_and_at_the_end_from_fixed_noise(tmp_path):
    point = GANPoint(build_mlp(SHAPE, z_dim=8, hidden=16), [], (ADAM, ADAM))
    samples = Samples(str(tmp_path), every=2, grid=3)
    fit_points([(InMemory(images()), point)], WGANLoss(), iters=5, batch_size=8, callbacks=[[samples]])
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["iter_000002.png", "iter_000004.png"]
    final = np.asarray(Image.open(tmp_path / "samples.png"))
    assert final.shape == (3 * 10 + 2, 3 * 10 + 2, 3)  # 3x3 grid of 8x8 images, padding 2
    fixed = torch.randn(9, 8, generator=torch.Generator().manual_seed(0))  # seed 0: the same z at every interval
    assert samples.z is not None and torch.equal(samples.z, fixed)


TINY_IMAGE_RUN = [
    "train.iters=4",
    "train.batch_size=16",
    "train.n_critic=2",
    "train.sample_every=2",
    "logger=csv",
    "train.log_every=2",
    "metrics.num_samples=64",  # the image default (inception / digits) with a handful of samples
]


def test_cli_trains_on_stacked_digits_and_leaves_its_folder(tmp_path):
    args = ["dataset=stacked_digits", "dataset.size=256", "arch=dcgan", "arch.dim=8", *TINY_IMAGE_RUN]
    proc = run_cli([*args, f"hydra.run.dir={tmp_path}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "ok" and record["g_iters"] == 4 and record["choices"]["metrics"] == "digits"
    assert set(record["metrics"]) == {"modes", "kl", "fid_digits"}
    assert np.asarray(Image.open(tmp_path / "samples.png")).shape == (8 * 34 + 2, 8 * 34 + 2, 3)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["iter_000002.png", "iter_000004.png"]
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert "train/critic" in (tmp_path / "logs" / "metrics.csv").read_text().splitlines()[0]


def test_cli_trains_on_a_tiny_cifar10_folder_with_a_batch_norm_critic(tmp_path):
    root = tmp_path / "cifar"
    write_cifar_folder(root / "cifar-10-batches-py", cifar_batches(n=20))
    args = ["dataset=cifar10", f"dataset.root={root}", "arch=bures_dcgan", "loss=bures", "constraint=none"]
    proc = run_cli([*args, *TINY_IMAGE_RUN, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "ok" and record["g_iters"] == 4
    assert (tmp_path / "run" / "samples.png").stat().st_size > 1000


def test_missing_data_fails_in_seconds_before_any_network_and_is_recorded(tmp_path):
    start = time.perf_counter()
    proc = run_cli(["dataset=cifar10", f"dataset.root={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path}"], tmp_path)
    assert proc.returncode != 0 and time.perf_counter() - start < 30  # interpreter + imports; no network built
    for part in ("data_batch_1", str(tmp_path / "nowhere"), "dataset.root=", "cifar-10-python.tar.gz"):
        assert part in proc.stderr
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "failed" and "MissingDataError" in record["error"]
