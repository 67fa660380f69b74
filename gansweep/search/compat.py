"""What differs between the Optuna releases gansweep runs on (2.10, which hydra-optuna-sweeper pins, up to 5.x)."""

from __future__ import annotations

import inspect
import warnings
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import optuna
from packaging.version import Version


def supported(cls: Any, **kwargs: Any) -> Dict[str, Any]:
    """The keyword arguments this Optuna's `cls` takes (GridSampler's seed from 3.1, TPE's constant_liar from 2.8)."""
    parameters = inspect.signature(cls).parameters
    return {name: value for name, value in kwargs.items() if name in parameters}


@contextmanager
def experimental() -> Iterator[None]:
    """Silences Optuna's ExperimentalWarning for a feature chosen on purpose (TPE's constant liar, QMC, journals)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def database_blocker() -> Optional[str]:
    """Why this Optuna cannot use a database storage (SQLite, PostgreSQL...), or None: Optuna < 3.1 predates
    SQLAlchemy 2, under which its first write of a new database fails on an AssertionError."""
    if Version(optuna.__version__) >= Version("3.1"):
        return None
    import sqlalchemy  # a requirement of optuna < 3.1

    if Version(sqlalchemy.__version__) >= Version("2"):
        return f"optuna {optuna.__version__} cannot write a database under SQLAlchemy {sqlalchemy.__version__}"
    return None
