"""The global random number generators a run draws from (torch CPU and CUDA, python, numpy), captured into a
checkpoint and restored from it, so a resumed run draws what the uninterrupted run would have drawn."""

from __future__ import annotations

import random
from typing import Any, Dict

import torch


def capture() -> Dict[str, Any]:
    """Every global generator's state, as tensors and plain Python values (loadable with weights_only=True)."""
    import numpy as np

    name, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(np.array(keys, dtype=np.uint32)), pos, has_gauss, gauss),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # never initialise CUDA just to read it
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: Dict[str, Any]) -> None:
    """Set every generator captured in `state` (CUDA: as many devices as both the checkpoint and this machine have)."""
    import numpy as np

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)
