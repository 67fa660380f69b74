"""What the evaluations of a fused group share in one process (gansweep.cache.SHARED): one feature network per weights
and device, and one set of real features per (real images, extractor, device). Each evaluation still scores its own
point and writes its own protocol; none writes to what it shares."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Generic, Hashable, Optional, Tuple, TypeVar

import torch
from torch import Tensor, nn

from gansweep.cache import SHARED

Network = TypeVar("Network", bound=nn.Module)


@dataclass(eq=False)
class Extractor(Generic[Network]):
    """A feature network in eval mode and its protocol entry (weights file, sha256, ...), named by `key` (what
    determines its weights): one object for every evaluation of the process that uses them."""

    network: Network
    info: Dict[str, Any]
    key: Tuple[Hashable, ...]


@dataclass(eq=False)
class RealFeatures:
    """The real images' features on the evaluation's device and the cache file they came from (None: no cache)."""

    features: Tensor
    path: Optional[str]


def file_key(path: Path) -> Tuple[str, int, int]:
    """A weights file as a key: its resolved path, size and modification time (a replaced file is another key)."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def shared_extractor(
    key: Tuple[Hashable, ...], load: Callable[[], Tuple[Network, Dict[str, Any]]]
) -> Extractor[Network]:
    """The extractor `load` returns (on the CPU), loaded once per process while an evaluation holds it."""

    def loaded() -> Extractor[Network]:
        network, info = load()
        return Extractor(network, info, key)

    return SHARED.get(("extractor", *key, "cpu"), loaded)


def extractor_on(extractor: Extractor[Network], device: torch.device) -> Extractor[Network]:
    """The extractor on `device`: the CPU one itself, else one copy per device, moved there once; the CPU one is
    never moved, so an evaluation elsewhere in the process keeps its own device."""
    if device.type == "cpu":
        return extractor

    def moved() -> Extractor[Network]:
        return Extractor(copy.deepcopy(extractor.network).to(device), extractor.info, extractor.key)

    return SHARED.get(("extractor", *extractor.key, str(device)), moved)


def shared_real_features(
    source: Optional[Tuple[Hashable, ...]],
    key: Dict[str, Any],
    device: torch.device,
    cache_dir: Optional[str],
    compute: Callable[[], RealFeatures],
) -> RealFeatures:
    """compute()'s real features, shared by the evaluations on `device` whose real images come from one source
    (its shared_key; None: not shared) and whose extraction is named by `key` and kept in `cache_dir`."""
    if source is None:
        return compute()
    named = json.dumps(key, sort_keys=True, default=str)
    return SHARED.get(("real features", *source, named, str(cache_dir), str(device)), compute)
