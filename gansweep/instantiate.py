"""Instantiate a config node that holds several named plug-ins (`constraint`, `callbacks`), one per entry."""

from __future__ import annotations

from typing import Any, List


def instantiate_entries(node: Any) -> List[Any]:
    """One object per entry with a `_target_`, in config order; entries without one (`constraint=none`,
    `metrics=none`) give none."""
    from hydra.utils import instantiate

    return [instantiate(entry) for entry in (node or {}).values() if entry and entry.get("_target_")]


def instantiate_plain(node: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, but a target's own error reaches the user as raised (Hydra wraps it in an
    InstantiationException that shows the message's repr, newlines escaped)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, Exception):
            raise err.__cause__ from None
        raise
