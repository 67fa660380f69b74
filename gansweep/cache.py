"""Computed once, then shared. On disk, by a sweep (decoded datasets, real-data features, the digit classifier): the
first process to need a file computes it under a lock while the others wait, then every later run loads it; writes
are atomic. In memory, by the points of a fused group (SHARED): one object per key in a process, while one holds it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, Iterator, List, TypeVar

import torch

log = logging.getLogger("gansweep")
T = TypeVar("T")


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


class SharedObjects:
    """Objects computed once per key and handed to every caller in this process while some caller still holds one
    (the memo keeps weak references only): the K points of a fused group get one data tensor, one extractor, one
    set of real features. An entry ends with its last holder, so a run that follows finds nothing left by another.
    A key names everything that determines the object (files with their sizes and times, settings, device);
    holders treat what they get as read-only."""

    def __init__(self) -> None:
        self._objects: "weakref.WeakValueDictionary[Hashable, Any]" = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self.enabled = True

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The live object under `key`, or `compute()`'s (a weak-referenceable object: a tensor, a module, a class
        instance), kept under it for later callers; with sharing off, always a fresh `compute()`."""
        if not self.enabled:
            return compute()
        with self._lock:
            found = self._objects.get(key)
        if found is not None:
            return found
        value = compute()
        with self._lock:  # a thread that computed the same key meanwhile: its object wins, this one is dropped
            return self._objects.setdefault(key, value)

    def holds(self, key: Hashable) -> bool:
        """Whether a live object is kept under `key` (with sharing off: never)."""
        with self._lock:
            return self.enabled and self._objects.get(key) is not None

    def keys(self) -> List[Hashable]:
        """The keys of the live objects."""
        with self._lock:
            return list(self._objects.keys())


SHARED = SharedObjects()  # this process's memo: what the points of a fused group share (gansweep.data, .metrics)


@contextmanager
def private_copies() -> Iterator[None]:
    """Within the block every caller computes its own object, as before sharing (benchmarks' "off", tests' alone)."""
    saved, SHARED.enabled = SHARED.enabled, False
    try:
        yield
    finally:
        SHARED.enabled = saved
