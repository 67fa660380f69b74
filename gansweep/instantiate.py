"""Instantiate a config node that holds several named plug-ins (`constraint`, `callbacks`), one per entry."""

from __future__ import annotations

from typing import Any, List


def instantiate_entries(node: Any) -> List[Any]:
    """One object per entry with a `_target_`, in config order; entries without one (`constraint=none`,
    `metrics=none`) give none."""
    from hydra.utils import instantiate

    return [instantiate(entry) for entry in (node or {}).values() if entry and entry.get("_target_")]
