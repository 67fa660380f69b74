"""What the forkserver imports once before forking points: heavy libraries and gansweep's own modules."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import gansweep


def gansweep_modules() -> List[str]:
    """Every module of the installed gansweep package (not `__main__`, which would start the CLI)."""
    root = Path(gansweep.__file__).resolve().parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def preload_list(extra: Sequence[str]) -> List[str]:
    """The launcher's `preload` modules, then gansweep's; forkserver skips names that fail to import."""
    return list(dict.fromkeys([*extra, *gansweep_modules()]))
