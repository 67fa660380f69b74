"""Whole-or-nothing file writes: a reader of a running sweep's folder never sees half a record, table or figure."""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """`write(tmp)` into a temporary file beside `path`, then rename it over `path` (atomic on one file system)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """`text` into `path`, atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))
