"""The per-point table of a sweep (one row per run folder: its grid values, status, metrics, wall time) and the
status line that ends a sweep; gansweep.report.write puts the table in report.md and report_points.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence

from gansweep.grid import varying_overrides
from gansweep.record import METRICS_FILE, STATUSES

HEAD_COLUMNS = ("run", "overrides", "status", "g_iters")
# metric columns in this order, each shown when some run has it; the key names the extractor (fid_inception vs
# fid_digits), so numbers of different extractors never share a column
METRIC_FORMATS = {
    "modes_covered": "{}",
    "hq_pct": "{:.1f}",
    "energy_distance": "{:.4f}",
    "fid_inception": "{:.2f}",
    "kid_inception": "{:.5f}",
    "precision_inception": "{:.3f}",
    "recall_inception": "{:.3f}",
    "modes": "{}",
    "kl": "{:.4f}",
    "fid_digits": "{:.3f}",
}
TAIL_COLUMNS = ("wall_time_s",)


def columns(records: Sequence[Dict[str, Any]]) -> List[str]:
    """The table's columns: the run, its grid axes and status, the metrics some run recorded, the wall time."""
    present = {k for rec in records for k in rec.get("metrics") or {}}
    return [*HEAD_COLUMNS, *(k for k in METRIC_FORMATS if k in present), *TAIL_COLUMNS]


def table_rows(records: Sequence[Dict[str, Any]]) -> List[Dict[str, str]]:
    """One row per run; metrics a run did not produce (failed runs, no modes) show as '-'."""
    rows = []
    shown = [c for c in columns(records) if c in METRIC_FORMATS]
    for rec, overrides in zip(records, varying_overrides([r.get("overrides") or [] for r in records]), strict=True):
        metrics = rec.get("metrics") or {}
        row = {
            "run": rec.get("run", ""),
            "overrides": overrides,
            "status": rec.get("status", "?"),
            "g_iters": _fmt(rec.get("g_iters"), "{}"),  # None: a point that died hard could not say
            **{key: _fmt(metrics.get(key), METRIC_FORMATS[key]) for key in shown},
            "wall_time_s": _fmt(rec.get("wall_time_s"), "{:.1f}"),
        }
        if metrics.get("modes_covered") is not None:
            row["modes_covered"] = f"{metrics['modes_covered']}/{metrics['n_modes']}"
        if metrics.get("modes") is not None:
            row["modes"] = f"{metrics['modes']}/1000"
        rows.append(row)
    return rows


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def render_markdown(rows: Sequence[Dict[str, str]]) -> str:
    cols = list(rows[0]) if rows else [*HEAD_COLUMNS, *TAIL_COLUMNS]
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in cols}
    line = lambda cells: "| " + " | ".join(cells[c].ljust(widths[c]) for c in cols) + " |"  # noqa: E731
    header = line({c: c for c in cols})
    rule = "|" + "|".join("-" * (widths[c] + 2) for c in cols) + "|"
    return "\n".join([header, rule] + [line(r) for r in rows])


def status_counts(records: Sequence[Dict[str, Any]]) -> Dict[str, int]:
    """How many points ended in each status: ok, diverged and failed always, others only when a point has them."""
    statuses = [rec.get("status", "?") for rec in records]
    return {s: statuses.count(s) for s in (*STATUSES, "?") if s in statuses or s in ("ok", "diverged", "failed")}


def status_line(records: Sequence[Dict[str, Any]], sweep_dir: Path, listed: int = 10) -> str:
    """One line: how many points ended ok, diverged, failed (and interrupted), where the errors are, how to finish."""
    counts = status_counts(records)
    line = f"gansweep: {len(records)} points: " + ", ".join(f"{n} {status}" for status, n in counts.items())
    bad = [f"{rec['run']}/{METRICS_FILE}" for rec in records if rec.get("status") in ("diverged", "failed")]
    if bad:
        more = f" and {len(bad) - listed} more" if len(bad) > listed else ""
        line += f"; errors in {', '.join(bad[:listed])}{more} under {sweep_dir}"
    if counts.get("interrupted"):
        line += f"; `gansweep-resume {sweep_dir}` continues the interrupted points"
    if counts["failed"]:
        line += f"; `gansweep-resume {sweep_dir} resume.failed=rerun` (or =resume) retries the failed ones"
    return line
