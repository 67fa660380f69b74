"""Optuna's and alembic's per-trial info lines are noise under Hydra's log format: warnings only."""

from __future__ import annotations

import logging


def quiet_libraries() -> None:
    """Called before optuna is imported where possible: alembic logs its SQLite schema lines as optuna imports it."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
