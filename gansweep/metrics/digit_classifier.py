"""The digit classifier of the stacked-digits metrics: a small CNN trained on scikit-learn's digits (the offline
stand-in for the Stacked MNIST protocol's pre-trained MNIST CNN), seeded, seconds on a CPU, cached on disk."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gansweep.cache import cache_name, cached, sha256_of

log = logging.getLogger("gansweep")

VERSION = 1  # bump when the network or its training changes: old cache files are then never read
FEATURES = 128  # penultimate width: fid_digits' feature size per channel
EPOCHS, BATCH, LR = 40, 128, 2e-3
HELD_OUT = 5  # every 5th image of each digit class is held out: a stratified 20%


class DigitClassifier(nn.Module):
    """One channel [N, 1, 32, 32] in [-1, 1] -> 10 logits; as the protocol's MNIST CNN (conv, pool, conv, pool,
    dense, dropout, softmax), on the 16x16 average of the image (the digits are 8x8 upscaled)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.dense = nn.Linear(32 * 4 * 4, FEATURES)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(FEATURES, 10)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations [N, FEATURES] (fid_digits' features)."""
        x = F.avg_pool2d(x, 2)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.dense(x.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.dropout(self.features(x)))


def _split() -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train images, train labels, held-out images, held-out labels), images [N, 1, 32, 32] in [-1, 1]."""
    from gansweep.data.digits import upscaled_digits

    images, labels = upscaled_digits()
    x = images.float().div(127.5).sub(1.0).unsqueeze(1)
    rank = torch.zeros_like(labels)  # the image's position among the images of its class
    for digit in range(10):
        members = (labels == digit).nonzero().flatten()
        rank[members] = torch.arange(len(members))
    held = rank % HELD_OUT == 0
    return x[~held], labels[~held], x[held], labels[held]


def _shift(x: Tensor, generator: torch.Generator, max_shift: int = 2) -> Tensor:
    """The batch moved by up to max_shift pixels in x and y (background-padded): generated digits are not all
    centred as the data's are."""
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    return padded[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]


def accuracy(model: DigitClassifier, x: Tensor, labels: Tensor) -> float:
    with torch.no_grad():
        return (model.eval()(x).argmax(dim=1) == labels).double().mean().item()


def train_digit_classifier(seed: int = 0) -> Tuple[DigitClassifier, float]:
    """Train on a fixed stratified 80% of the digits (random shifts, Adam); returns the model in eval mode and its
    accuracy on the held-out 20%. Seeded, and the global random state is left as it was."""
    start = time.perf_counter()
    x, y, x_held, y_held = _split()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initialisation and dropout
        generator = torch.Generator().manual_seed(seed)  # shuffles and shifts
        model = DigitClassifier()
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        for _ in range(EPOCHS):
            model.train()
            for idx in torch.randperm(len(x), generator=generator).split(BATCH):
                loss = F.cross_entropy(model(_shift(x[idx], generator)), y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    held_out = accuracy(model, x_held, y_held)
    log.info(
        "digit classifier (seed %d): held-out accuracy %.4f on %d digits, trained in %.1f s",
        seed,
        held_out,
        len(y_held),
        time.perf_counter() - start,
    )
    return model.eval(), held_out


class StackedDigitsExtractor(nn.Module):
    """RGB stacked digits, uint8 [N, 3, 32, 32]: each channel classified on its own by the digit CNN."""

    name = "digits"

    def __init__(self, classifier: DigitClassifier, batch_size: int = 1024) -> None:
        super().__init__()
        self.classifier, self.batch_size = classifier.eval(), batch_size
        self.num_features = 3 * FEATURES

    def _channels(self, images: Tensor) -> Tensor:
        """[N, 3, H, W] uint8 (or 0..255 floats) -> [3N, 1, H, W] in [-1, 1], channel-major within each image."""
        x = images.float().div(127.5).sub(1.0)
        return x.reshape(-1, 1, *x.shape[2:])

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """Penultimate features of the three channels, concatenated in channel order: [N, 3 * FEATURES]."""
        out = [self.classifier.features(self._channels(b)) for b in images.split(self.batch_size)]
        return torch.cat(out).view(len(images), 3 * FEATURES)

    @torch.no_grad()
    def labels(self, images: Tensor) -> Tensor:
        """100 * c1 + 10 * c2 + c3 with c_i the digit the classifier reads in channel i: int64 [N]."""
        digits = torch.cat([self.classifier(self._channels(b)).argmax(dim=1) for b in images.split(self.batch_size)])
        return (digits.view(len(images), 3) * torch.tensor([100, 10, 1], device=digits.device)).sum(dim=1)


def classifier_key(cache_dir: Optional[str | Path], seed: int = 0) -> Tuple[str, int, int, str]:
    """What determines the classifier's weights: its cache file (or "memory"), seed, VERSION and torch version."""
    torch_version = ".".join(torch.__version__.split(".")[:2])
    if cache_dir in (None, ""):
        return ("memory", seed, VERSION, torch_version)
    key = {"version": VERSION, "seed": seed, "torch": torch_version}
    path = Path(str(cache_dir)).expanduser() / cache_name(f"digit-classifier-seed{seed}", key)
    return (str(path), seed, VERSION, torch_version)


def load_digits_extractor(
    cache_dir: Optional[str | Path], seed: int = 0
) -> Tuple[StackedDigitsExtractor, Dict[str, Any]]:
    """The extractor with the classifier trained once per (seed, VERSION, torch version) and cached in
    `cache_dir` (None: trained in memory); info holds its held-out accuracy, seed, file and sha256."""

    def compute() -> Dict[str, Any]:
        model, held_out = train_digit_classifier(seed)
        return {"state_dict": model.state_dict(), "accuracy": held_out, "seed": seed, "version": VERSION}

    where = classifier_key(cache_dir, seed)[0]
    path: Optional[Path] = None
    if where == "memory":
        saved = compute()
        buffer = io.BytesIO()
        torch.save(saved, buffer)
        digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    else:
        path = Path(where)
        saved = cached(path, compute)
        digest = sha256_of(path)
    classifier = DigitClassifier()
    classifier.load_state_dict(saved["state_dict"])
    info = {
        "accuracy": float(saved["accuracy"]),
        "seed": int(saved["seed"]),
        "sha256": digest,
        "path": str(path) if path else None,
    }
    return StackedDigitsExtractor(classifier), info
