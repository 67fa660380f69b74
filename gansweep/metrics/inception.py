"""The standard FID network: TensorFlow's inception-2015-12-05 as the TorchScript file StyleGAN2-ADA and clean-fid
use, read with torch.jit.load (no torch-fidelity, no torchvision). Missing or unreadable weights fail at once,
before any training, with what to put where; another network is never swapped in."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from gansweep.cache import sha256_of

log = logging.getLogger("gansweep")

NAME = "inception-2015-12-05"
FILE_NAME = f"{NAME}.pt"
URL = f"https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/{FILE_NAME}"
RESIZE = "bilinear to 299x299 inside the network (StyleGAN2-ADA / clean-fid legacy_pytorch)"
FEATURES = "pool_3, 2048-d"


class InceptionWeightsError(FileNotFoundError):
    """No usable Inception weights: the message says which file to put where and which key to set."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"metrics=inception: {problem}\n"
            f"Put the TorchScript file {FILE_NAME} ({URL}) on this machine and set "
            f"metrics.inception_weights=PATH, or place it at {default_path()} (where a run with network access "
            f"downloads it). torch-fidelity's weights-inception-2015-12-05-6726825d.pth is not read: it is a state "
            f"dict for torch-fidelity's network, which needs torchvision. metrics=none trains without FID."
        )
        self._problem = problem

    def __reduce__(self) -> Any:
        """Picklable, so a launcher's worker process can send it back."""
        return (type(self), (self._problem,))


def default_path() -> Path:
    """Where the file is looked for (and downloaded to) when metrics.inception_weights is not set: torch's cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FILE_NAME


def resolve_weights(path: Optional[str], download: bool = True) -> Path:
    """The weights file: `path` when set (it must exist); else torch's cache, downloaded there once if allowed."""
    if path not in (None, ""):
        weights = Path(str(path)).expanduser()
        if not weights.is_file():
            raise InceptionWeightsError(f"metrics.inception_weights={path} is not a file.")
        return weights
    weights = default_path()
    if weights.is_file():
        return weights
    if not download:
        raise InceptionWeightsError(f"metrics.inception_weights is not set and {weights} does not exist.")
    weights.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", URL, weights)
    try:
        torch.hub.download_url_to_file(URL, str(weights), progress=False)  # writes a temporary file, then moves it
    except Exception as err:  # offline compute nodes: URLError, timeouts, proxies
        raise InceptionWeightsError(f"downloading {URL} failed ({type(err).__name__}: {err}).") from None
    return weights


class InceptionFeatures(nn.Module):
    """uint8 images [N, C, H, W] (any size; 1 channel is repeated to 3) -> pool_3 features [N, num_features]."""

    name = "inception"

    def __init__(self, network: nn.Module, num_features: int) -> None:
        super().__init__()
        self.network, self.num_features = network, num_features

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = images.float()  # the network takes 0..255 and resizes, then scales to [-1, 1] itself
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.network(x, return_features=True).float()


def load_inception(path: Optional[str], download: bool = True) -> Tuple[InceptionFeatures, Dict[str, Any]]:
    """The network and its protocol entry (file, sha256, resize); fails with InceptionWeightsError, never falls back."""
    weights = resolve_weights(path, download)
    try:
        network = torch.jit.load(str(weights), map_location="cpu").eval()
    except Exception as err:  # a state dict, a pickle, a truncated download
        raise InceptionWeightsError(
            f"{weights} is not a TorchScript network ({type(err).__name__}: {str(err).splitlines()[0]})."
        ) from None
    try:
        probe = network(torch.zeros(1, 3, 32, 32), return_features=True)
    except Exception as err:
        raise InceptionWeightsError(
            f"{weights} loads, but does not take (images, return_features=True) as {FILE_NAME} does "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})."
        ) from None
    if probe.dim() != 2 or probe.shape[0] != 1:
        raise InceptionWeightsError(f"{weights} returns features of shape {tuple(probe.shape)}, not [N, D].")
    info = {
        "extractor": NAME,
        "weights": str(weights),
        "weights_sha256": sha256_of(weights),
        "num_features": int(probe.shape[1]),
        "resize": RESIZE,
    }
    return InceptionFeatures(network, int(probe.shape[1])), info
