"""What every datamodule shares."""

from __future__ import annotations

from typing import Any, Mapping

import torch


def training_device(datamodule: Any) -> torch.device:
    """The device Lightning trains on (batches are drawn there); the CPU before a trainer is attached."""
    trainer = getattr(datamodule, "trainer", None)
    return trainer.strategy.root_device if trainer is not None else torch.device("cpu")


class Preflight:
    """A datamodule's check before any training starts: `preflight(node)` on the dataset's config node."""

    @classmethod
    def preflight(cls, node: Mapping[str, Any]) -> None:
        """Check, in well under a second and before anything trains, that the files this datamodule will read (with
        `node`, the dataset node as conf/dataset/*.yaml gives it, `_target_` included) are there and readable, or
        will be downloaded; raise gansweep.config.ConfigError saying which file and what to change. Nothing to check
        by default (a source with no files: the toy distributions)."""
