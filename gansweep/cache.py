"""Computed-once files shared by a sweep (decoded datasets, real-data features, the digit classifier): the first
process to need one computes it under a lock while the others wait, then every later run loads it. Writes are
atomic."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict

import torch

log = logging.getLogger("gansweep")


def cache_name(prefix: str, key: Dict[str, Any]) -> str:
    """A readable, collision-safe file name: the prefix, then a digest of every field of the key."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{prefix}-{digest}.pt"


def sha256_of(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached(path: Path, compute: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """The dict saved at `path`, or `compute()` saved there first. Processes that start together take an exclusive
    lock on `path`.lock, so one computes and the others load its result; a reader never sees half a file."""
    path = Path(path).expanduser()
    if path.is_file():
        return _load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if path.is_file():  # another process computed it while this one waited
            return _load(path)
        value = compute()
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            torch.save(value, tmp)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        lock_path.unlink(missing_ok=True)  # later arrivals find the file first; waiters re-check it after the lock
        log.info("cached %s", path)
        return value


def _load(path: Path) -> Dict[str, Any]:
    log.info("from the cache: %s", path)
    return torch.load(path, map_location="cpu", weights_only=True)
