"""An adaptive sweep's section of report.md: what its study holds, read from the summary the sweep leaves
(gansweep.studies.SUMMARY, gansweep.search.summary), so the report needs no Optuna; with the rung plot (rungs.png,
gansweep.report.rungs) drawn beside report.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from gansweep.report.rungs import RUNGS_PNG, plot_rungs, rung_caption, rung_plot_data
from gansweep.studies import SUMMARY


def read_summary(sweep_dir: Path) -> Optional[Dict[str, Any]]:
    """The sweep's study summary, or None (not an adaptive sweep, or one that has not ended yet)."""
    try:
        summary = json.loads((Path(sweep_dir) / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def best_line(sweep_dir: Path, best: Dict[str, Any]) -> str:
    """The best trial: its number and folder, value, swept values, and a link to its resolved config."""
    folder = best.get("folder") or str(best["trial"])
    params = " ".join(f"{k}={v}" for k, v in best["params"].items())
    line = f"Best: trial {best['trial']} (folder `{folder}`), {best['value']:.4g}: `{params}`."
    if (Path(sweep_dir) / folder / "config.yaml").is_file():
        line += f" Its whole config: [`{folder}/config.yaml`]({folder}/config.yaml)."
    return line


def rung_figure(sweep_dir: Path, summary: Dict[str, Any]) -> List[str]:
    """rungs.png drawn from the summary and its lines of report.md; none (and no stale figure left) when the
    summary holds no trial's evaluations."""
    path = Path(sweep_dir) / RUNGS_PNG
    plot = rung_plot_data(summary)
    if plot is None:
        path.unlink(missing_ok=True)
        return []
    plot_rungs(path, plot, Path(sweep_dir).name)
    return [f"![rungs]({RUNGS_PNG})", "", rung_caption(plot), ""]


def study_section(sweep_dir: Path) -> List[str]:
    """An adaptive sweep's study (gansweep.studies.SUMMARY): its trials by state, the best one with its config, what
    it spent against the full grid, and the rung plot."""
    summary = read_summary(sweep_dir)
    if summary is None:
        return []
    counts = ", ".join(f"{n} {state}" for state, n in summary["trials"].items() if n)
    lines = ["## Adaptive study", "", f"Study `{summary['study']}`: {summary['direction']} `{summary['metric']}`; "
             f"trials: {counts}."]  # fmt: skip
    best = summary.get("best")
    if best is not None:
        lines.append(best_line(sweep_dir, best))
    grid = summary.get("grid")
    spent = f"{summary['spent']:,}" + (f" of the full grid's {grid:,} ({summary['spent'] / grid:.1%})" if grid else "")
    return [*lines, f"Generator iterations spent: {spent}.", "", *rung_figure(sweep_dir, summary)]
