"""Where the Hydra configs and sweep templates live: in the checkout, or inside an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _first_dir(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"none of {[str(c) for c in candidates]} exists; reinstall gansweep")


def conf_dir() -> Path:
    """conf/ of the checkout (editable install) or gansweep/_conf of a wheel."""
    return _first_dir(_PACKAGE / "_conf", _PACKAGE.parent / "conf")


def templates_dir() -> Path:
    """multirun_templates/ of the checkout or gansweep/_templates of a wheel."""
    return _first_dir(_PACKAGE / "_templates", _PACKAGE.parent / "multirun_templates")
