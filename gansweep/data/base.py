"""What every datamodule shares."""

from __future__ import annotations

from typing import Any

import torch


def training_device(datamodule: Any) -> torch.device:
    """The device Lightning trains on (batches are drawn there); the CPU before a trainer is attached."""
    trainer = getattr(datamodule, "trainer", None)
    return trainer.strategy.root_device if trainer is not None else torch.device("cpu")
