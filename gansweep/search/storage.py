"""Where a study lives: a storage URL when given, else a file in the sweep folder (an Optuna journal from optuna 3.1,
SQLite before), which optuna-dashboard reads and a resumed sweep finds again."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import optuna

from gansweep.search.compat import database_blocker
from gansweep.search.settings import SearchError
from gansweep.studies import JOURNAL, journal_backend, open_storage

JOURNAL_FILE = "optuna.log"
SQLITE_FILE = "optuna.db"
UPGRADE = "install optuna >= 3.1 (a journal file, no database) or sqlalchemy < 2"


def make_storage(url: Optional[str], sweep_dir: Path) -> Any:
    """`url` as given (any Optuna storage URL), or the sweep folder's file; the file a study began in wins (a study
    begun in SQLite under optuna < 3.1 stays there after an upgrade)."""
    return open_storage(storage_address(url, sweep_dir))


def storage_address(url: Optional[str], sweep_dir: Path) -> str:
    """What every process of the sweep opens the study with (gansweep.study_storage): `url`, or the sweep folder's
    journal (optuna >= 3.1) or SQLite file."""
    if url is not None:
        if "://" not in url:
            raise SearchError(f"storage={url!r} is not a storage URL (sqlite:///PATH, postgresql://...); or null")
        return _database(url)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    journal, sqlite = sweep_dir / JOURNAL_FILE, sweep_dir / SQLITE_FILE
    if journal_backend() is not None and (journal.exists() or not sqlite.exists()):
        return f"{JOURNAL}{journal.resolve()}"
    if journal.exists():
        raise SearchError(f"{journal} is an Optuna journal: it needs optuna >= 3.1 (installed: {optuna.__version__})")
    return _database(f"sqlite:///{sqlite.resolve()}")


def _database(url: str) -> str:
    """A database URL, refused in one line where this Optuna cannot write it."""
    blocker = database_blocker()
    if blocker is not None and not url.startswith("redis"):
        raise SearchError(f"storage {url}: {blocker}; {UPGRADE}")
    return url
