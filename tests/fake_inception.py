"""A weights file in the real format of inception-2015-12-05.pt (a TorchScript archive taking 0..255 images of any
size and `return_features=True`), made from a small randomly initialised network: the real loading path runs
offline, the numbers are meaningless. (The real network resizes to 299x299 inside; this one pools instead, which
keeps test runs fast and changes nothing on gansweep's side of the call.)"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn


class _RandomInception(nn.Module):
    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=3, stride=2)
        self.features = nn.Linear(16, num_features)
        self.logits = nn.Linear(num_features, 1008)

    def forward(
        self, img: Tensor, return_features: bool = False, use_fp16: bool = False, no_output_bias: bool = False
    ) -> Tensor:
        x = (img.to(torch.float32) - 128) / 128
        x = torch.relu(self.conv(x)).mean(dim=(2, 3))
        features = torch.relu(self.features(x))
        if return_features:
            return features
        return self.logits(features)


def write_fake_inception(path: Path, num_features: int = 64, seed: int = 0) -> Path:
    """Save a scripted random network at `path` (same call interface as the standard file)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = torch.jit.script(_RandomInception(num_features).eval())
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(network, str(path))
    return path
