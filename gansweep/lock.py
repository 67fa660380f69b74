"""One owner per folder: an OS file lock on a file inside the folder, held by the process that writes the folder and
dropped by the kernel when that process dies, however it dies (no pid file outlives a crash).

A sweep folder is held by the sweep's launching process, a run folder by the process that trains its point. Locks
are re-entrant within a process (a sweep run in-process holds its sweep folder and, one after another, its runs').
POSIX record locks (lockf), not flock: a forked child (a DataLoader worker) does not inherit them, so a folder is
free the moment its holder dies. They drop when the process closes ANY descriptor of the file: the lock file is
opened once per process (`_held`), and nothing else in the process may open it. A file system without locks (NFS
without lockd) gets a warning and no lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

LOCK_FILE = ".gansweep.lock"  # in the folder it guards; its text says who holds it
BUSY = (errno.EACCES, errno.EAGAIN)  # lockf's answers when another process holds the lock
log = logging.getLogger(__name__)


class FolderBusy(RuntimeError):
    """Another live process holds the folder."""

    leaves_folder = True  # a launcher answering for this point writes nothing into the folder

    def __init__(self, folder: Path, holder: Dict[str, Any]) -> None:
        self.folder, self.holder = folder, holder
        super().__init__(f"{folder} is in use by {describe_holder(holder)}")

    def __reduce__(self) -> Any:  # crosses process boundaries (a point's result) whole
        return (type(self), (self.folder, self.holder))


@dataclass
class FolderLock:
    folder: Path
    fd: int
    count: int = 1  # re-entrant holds in this process

    def release(self) -> None:
        """Drop one hold; the last one closes the file, which drops the lock."""
        self.count -= 1
        if self.count == 0:
            _held.pop(self.folder, None)
            os.close(self.fd)


_held: Dict[Path, FolderLock] = {}


def hold(
    folder: Path, what: str, wait_s: float = 0.0, on_wait: Optional[Callable[[Dict[str, Any]], None]] = None
) -> FolderLock:
    """Take the folder for this process (creating it), waiting up to `wait_s` for a holder to let go (`on_wait` is
    told who, once); raises FolderBusy naming the holder. `what` is written for the next one to read."""
    folder = Path(folder).absolute()
    held = _held.get(folder)
    if held is not None:
        held.count += 1
        return held
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as err:
            if err.errno not in BUSY:  # no locks on this file system: go on, unguarded, and say so
                log.warning(f"{folder} cannot be locked ({err}): two sweeps into it would not be kept apart")
                break
            holder = _read(fd)
            if time.monotonic() >= deadline:
                os.close(fd)
                raise FolderBusy(folder, holder) from None
            if on_wait is not None and not told:
                on_wait(holder)
                told = True
            time.sleep(0.2)
    text = json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "what": what, "since": time.time(), "argv": sys.argv}
    )
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
    except OSError:  # a full disk: the lock holds all the same, only its holder's name is missing
        pass
    lock = _held[folder] = FolderLock(folder, fd)
    return lock


def holder_of(folder: Path) -> Optional[Dict[str, Any]]:
    """Who holds the folder now, or None when nobody does."""
    path = Path(folder) / LOCK_FILE
    if not path.is_file():
        return None
    if Path(folder).absolute() in _held:
        return {"pid": os.getpid(), "host": socket.gethostname(), "what": "this process"}
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return None
    except OSError as err:
        return _read(fd) if err.errno in BUSY else None
    finally:
        os.close(fd)


def describe_holder(holder: Dict[str, Any]) -> str:
    """ "pid 123 on node1 (the sweep gansweep -m seed=0,1, since 10:00:02)"."""
    since = holder.get("since")
    when = f", since {time.strftime('%H:%M:%S', time.localtime(since))}" if isinstance(since, (int, float)) else ""
    what = holder.get("what") or "another process"
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} ({what}{when})"


def _read(fd: int) -> Dict[str, Any]:
    try:
        text = os.pread(fd, 65536, 0).decode(errors="replace")
        holder = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        holder = {}
    return holder if isinstance(holder, dict) else {}
