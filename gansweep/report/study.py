"""An adaptive sweep's section of report.md: what its study holds, read from the summary the sweep leaves
(gansweep.studies.SUMMARY), so the report needs no Optuna."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

from gansweep.studies import SUMMARY


def study_section(sweep_dir: Path) -> List[str]:
    """An adaptive sweep's study (gansweep.studies.SUMMARY): its trials by state, the best one, what it spent."""
    try:
        summary = json.loads((sweep_dir / SUMMARY).read_text())
    except (OSError, ValueError):
        return []
    counts = ", ".join(f"{n} {state}" for state, n in summary["trials"].items() if n)
    lines = ["## Adaptive study", "", f"Study `{summary['study']}`: {summary['direction']} `{summary['metric']}`; "
             f"trials: {counts}."]  # fmt: skip
    best = summary.get("best")
    if best is not None:
        params = " ".join(f"{k}={v}" for k, v in best["params"].items())
        lines.append(f"Best: trial {best['trial']} (folder `{best['trial']}`), {best['value']:.4g}: `{params}`.")
    grid = summary.get("grid")
    spent = f"{summary['spent']:,}" + (f" of the full grid's {grid:,} ({summary['spent'] / grid:.1%})" if grid else "")
    return [*lines, f"Generator iterations spent: {spent}.", ""]
