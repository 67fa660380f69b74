"""Stacked digits: the offline stand-in for Stacked MNIST (1,000 modes; Bures GAN / VEEGAN / PacGAN protocol).
scikit-learn's 1,797 8x8 digits, upscaled to 32x32; three independently drawn digits are the R, G, B channels."""

from __future__ import annotations

from typing import Any, Tuple

import torch
from torch import Tensor

from gansweep.data.images import ImageDataModule
from gansweep.data.transforms import resize

SIDE = 32


def upscaled_digits() -> Tuple[Tensor, Tensor]:
    """sklearn's digits as uint8 [1797, 32, 32] (0..16 scaled to 0..255, bilinear upscale) and labels [1797]."""
    from sklearn.datasets import load_digits  # ships inside scikit-learn: no download

    digits = load_digits()
    small = torch.as_tensor(digits.images, dtype=torch.float32).mul_(255.0 / 16.0).round_().to(torch.uint8)
    return resize(small.unsqueeze(1), SIDE).squeeze(1), torch.as_tensor(digits.target, dtype=torch.int64)


class StackedDigitsDataModule(ImageDataModule):
    """A fixed training set of `size` RGB images drawn with `data_seed` (the same set for every run seed, as a
    real dataset is); self.labels = 100*c1 + 10*c2 + c3, the digit of each channel, for the mode metrics."""

    name = "stacked_digits"

    def __init__(self, size: int = 60000, data_seed: int = 0, **base: Any) -> None:
        if size < 1:
            raise ValueError(f"dataset.size={size} must be positive")
        self.size, self.data_seed = size, data_seed
        super().__init__(**base)

    @property
    def data_shape(self) -> Tuple[int, int, int]:
        return (3, SIDE, SIDE)

    def check(self) -> None:
        """Nothing to find: the digits ship with scikit-learn."""

    def source_signature(self) -> str:
        """The set is drawn from scikit-learn's digits by (size, data_seed): points of any seed share it."""
        from importlib.metadata import version

        return f"size={self.size} data_seed={self.data_seed} scikit-learn={version('scikit-learn')}"

    def read(self) -> Tensor:
        images, digits = upscaled_digits()
        picks = torch.randint(len(images), (self.size, 3), generator=torch.Generator().manual_seed(self.data_seed))
        self.labels = (digits[picks] * torch.tensor([100, 10, 1])).sum(dim=1)
        return images[picks]  # [size, 3, 32, 32]: channel c is digit picks[:, c]
