"""`gansweep-report SWEEP_DIR`: a sweep's report (ranked cells over seeds, heatmap, curves, errors, every point).

Writes report.md, report.csv, report_points.csv, heatmap.png and curves.png into the sweep folder, with relative
links only (a copied folder still reads); works on a finished, partial or still-running sweep.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from gansweep.files import write_atomic, write_text_atomic
from gansweep.record import METRICS_FILE, STATUSES
from gansweep.report.data import ReportData, load_report_data
from gansweep.report.plots import direction, heatmap_axes, plot_curves, plot_heatmap
from gansweep.report.points import PENDING, Point
from gansweep.report.study import study_section
from gansweep.report.table import columns, render_markdown, table_rows

REPORT_MD, REPORT_CSV, POINTS_CSV = "report.md", "report.csv", "report_points.csv"
REPORT_OPTIONS = Path(".gansweep") / "report.json"  # the options the user last made the report with (gansweep-report)
HEATMAP_PNG, CURVES_PNG = "heatmap.png", "curves.png"
COUNTED = ("diverged", "failed", "interrupted", PENDING)
PRUNED = "pruned"  # counted in a column of its own where a sweep has pruned points (hydra/sweeper=adaptive)
ERROR_CHARS = 300  # report.md shows an error's start; report_points.csv and metrics.json keep all of it
STAT_COLUMNS = ("median", "mean", "std", "n", "best_during_training", *COUNTED)


@dataclass
class Report:
    """What write_report produced: the ranked table with raw numbers (e.g. for a W&B table), files and texts."""

    metric: Optional[str]
    higher_is_better: bool
    table_columns: List[str]
    table_rows: List[List[Any]]
    plots: List[Path]
    markdown: str
    text: str  # printed at the end of a sweep: the ranked table and where report.md is
    path: Path = field(default=Path(REPORT_MD))  # report.md


def ranked_table(data: ReportData) -> tuple[List[str], List[List[Any]]]:
    """The ranked cell table with raw numbers: rank, the grid axes, the statistics and the status counts."""
    counted = counted_statuses(data)
    header = ["rank", *data.grid_axes, *STAT_COLUMNS[: -len(COUNTED)], *counted]
    rows = [
        [cell.rank, *cell.values, cell.median, cell.mean, cell.std, cell.n, cell.best_during_training]
        + [cell.count(status) for status in counted]
        for cell in data.cells
    ]
    return header, rows


def counted_statuses(data: ReportData) -> Sequence[str]:
    """The statuses the table counts per cell: pruned too where a point was pruned."""
    return (*COUNTED, PRUNED) if data.points_with(PRUNED) else COUNTED


def _num(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.4g}"


def ranked_markdown(data: ReportData) -> str:
    """The ranked table for people: median, mean ± std, n, best during training (labelled), status counts."""
    rows = []
    for cell in data.cells:
        spread = "-" if cell.mean is None else _num(cell.mean) + ("" if cell.std is None else f" ± {_num(cell.std)}")
        row = {"rank": "-" if cell.rank is None else str(cell.rank)}
        row.update(zip(data.grid_axes, cell.values, strict=True))
        row.update(
            {
                "median": _num(cell.median),
                "mean ± std": spread,
                "n": str(cell.n),
                "best during training (median)": _num(cell.best_during_training),
                **{status: str(cell.count(status)) for status in counted_statuses(data)},
            }
        )
        rows.append(row)
    return render_markdown(rows)


def status_summary(points: Sequence[Point]) -> str:
    """`N points: a ok, b diverged, c failed, d interrupted, e pending` (and f pruned where some are)."""
    statuses = [p.status for p in points]
    known = [s for s in (*STATUSES, PENDING) if s != PRUNED or PRUNED in statuses]
    others = sorted(set(statuses) - set(known))
    return f"{len(points)} points: " + ", ".join(f"{statuses.count(s)} {s}" for s in [*known, *others])


def _describe(point: Point) -> str:
    varying = " ".join(f"{k}={v}" for k, v in point.values.items()) or " ".join(point.overrides)
    where = f"`{point.run}`" if point.run else "(no folder yet)"
    return f"{where} {varying}".rstrip()


def problem_section(data: ReportData) -> List[str]:
    """The failed and diverged points, each with its folder, overrides and error."""
    bad = data.points_with("failed", "diverged")
    lines = ["## Failed and diverged points", ""]
    if not bad:
        return lines + ["None.", ""]
    for point in bad:
        error = " ".join((point.error or "no error recorded").split())
        error = error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 3] + "..."
        lines.append(f"- {_describe(point)}: **{point.status}**: {error}")
        if point.run:
            lines.append(f"  (details in `{point.run}/{METRICS_FILE}`)")
    return lines + [""]


def unfinished_section(data: ReportData) -> List[str]:
    """The pending (not finished yet) and interrupted (resumable) points."""
    lines = ["## Pending and interrupted points", ""]
    waiting = data.points_with(PENDING, "interrupted")
    if not waiting:
        return lines + ["None.", ""]
    lines += [f"- {_describe(point)}: {point.status}" for point in waiting]
    return lines + ["", "`gansweep-resume SWEEP_DIR` runs the pending and interrupted points.", ""]


def point_records(data: ReportData) -> List[Dict[str, Any]]:
    """Every point as a record for table.py's per-point table; a pending point is a record with no metrics."""
    return [
        p.record if p.record is not None else {"run": p.run, "overrides": p.overrides, "status": PENDING}
        for p in data.points
    ]


def write_points_csv(path: Path, records: Sequence[Dict[str, Any]]) -> None:
    """One row per point: the per-point table's columns, plus the error."""
    rows = [{**row, "error": rec.get("error") or ""} for row, rec in zip(table_rows(records), records, strict=True)]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[*columns(records), "error"])
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(path, write)


def write_cells_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """The ranked cells, raw numbers; an empty field where a cell has no value."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows([["" if v is None else v for v in row] for row in rows])

    write_atomic(path, write)


def why_no_heatmap(data: ReportData) -> str:
    if data.metric is None:
        return "No heatmap: no point has recorded a metric yet."
    if len(data.points) == 1:
        return "No heatmap: the sweep has one point."
    return "No heatmap: no grid axis varies (only seeds)." if data.seed_axis else "No heatmap: no grid axis varies."


def render_report(data: ReportData, plots: Dict[str, Optional[Path]]) -> str:
    """report.md: title, metric and direction, counts, images, ranked table, problems, unfinished, every point."""
    lines = [f"# Sweep report: {data.sweep_dir.name}", ""]
    if data.metric is None:
        lines.append("Metric: none yet (no point has recorded one).")
    else:
        lines.append(f"Metric: `{data.metric}` {direction(data.higher_is_better)}; final values (metrics.json) over "
                     f"the ok points of each cell; 'best during training' is the best interval evaluation or final "
                     f"value of each point, median over the cell.")  # fmt: skip
    axes = ", ".join(f"`{a}`" for a in data.grid_axes) or "none"
    lines += ["", f"Grid axes: {axes}; seeds: {'`' + data.seed_axis + '`' if data.seed_axis else 'one per cell'}."]
    lines += ["", status_summary(data.points) + ".", ""]
    lines.append(f"![heatmap]({HEATMAP_PNG})" if plots.get(HEATMAP_PNG) else why_no_heatmap(data))
    lines.append("")
    if plots.get(CURVES_PNG):
        lines += [f"![curves]({CURVES_PNG})", ""]
    lines += ["## Ranking (median over seeds of the final value)", "", ranked_markdown(data), ""]
    lines += study_section(data.sweep_dir)
    lines += problem_section(data) + unfinished_section(data)
    lines += ["## Every point", "", render_markdown(table_rows(point_records(data))), ""]
    return "\n".join(lines)


def _remove(path: Path) -> None:
    """Drop a figure of an earlier report that this one does not redraw (so report.md and the folder agree)."""
    path.unlink(missing_ok=True)


def write_report(sweep_dir: Path, metric: Optional[str] = None, axes: Optional[Sequence[str]] = None) -> Report:
    """Write report.md, report.csv, report_points.csv and the figures into sweep_dir; ValueError when the folder has
    no point, or the metric or an axis is not in this sweep (the message says which are)."""
    sweep_dir = Path(sweep_dir)
    data = load_report_data(sweep_dir, metric)
    heatmap_axes(data, axes)  # checked before anything is written
    plots: Dict[str, Optional[Path]] = {
        HEATMAP_PNG: plot_heatmap(sweep_dir / HEATMAP_PNG, data, axes),
        CURVES_PNG: plot_curves(sweep_dir / CURVES_PNG, data),
    }
    for name, written in plots.items():
        if written is None:
            _remove(sweep_dir / name)
    header, rows = ranked_table(data)
    write_cells_csv(sweep_dir / REPORT_CSV, header, rows)
    write_points_csv(sweep_dir / POINTS_CSV, point_records(data))
    markdown = render_report(data, plots)
    write_text_atomic(sweep_dir / REPORT_MD, markdown)
    ranked_by = f"ranked by {data.metric} {direction(data.higher_is_better)}, median over seeds" if data.metric else ""
    where = f"(report: {data.sweep_dir / REPORT_MD}{'; ' + ranked_by if ranked_by else ''})"  # absolute: for a terminal
    text = f"{ranked_markdown(data)}\n{where}"
    return Report(
        metric=data.metric,
        higher_is_better=data.higher_is_better,
        table_columns=header,
        table_rows=rows,
        plots=[p for p in plots.values() if p is not None],
        markdown=markdown,
        text=text,
        path=data.sweep_dir / REPORT_MD,
    )


def save_report_options(sweep_dir: Path, metric: Optional[str], axes: Optional[Sequence[str]]) -> None:
    """Remember the options a user made the report with, so that the sweep's end (a resume) makes it the same way;
    none given: the defaults, nothing to remember."""
    path = Path(sweep_dir) / REPORT_OPTIONS
    if metric is None and not axes:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"metric": metric, "axes": list(axes) if axes else None}) + "\n")


def report_options(sweep_dir: Path) -> Dict[str, Any]:
    """The options the user last made the report with ({} when the defaults)."""
    path = Path(sweep_dir) / REPORT_OPTIONS
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`gansweep-report SWEEP_DIR... [--metric NAME] [--axes KEY [KEY]] [--results FILE [--preface FILE]]`: write
    each sweep's report and print its table; with --results, one document of every sweep's results instead."""
    parser = argparse.ArgumentParser(prog="gansweep-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+", help="sweep folders (hydra.sweep.dir), finished or not")
    parser.add_argument("--metric", help="metric to rank by (default: fid_inception, fid_*, modes_covered, ...)")
    parser.add_argument("--axes", nargs="+", metavar="KEY", help="the one or two grid axes of the heatmap")
    parser.add_argument("--results", type=Path, metavar="FILE", help="write one results document of every sweep")
    parser.add_argument("--preface", type=Path, metavar="FILE", help="markdown copied to the top of --results")
    args = parser.parse_args(argv)
    for sweep_dir in args.sweep_dirs:
        if not sweep_dir.is_dir():
            print(f"gansweep-report: {sweep_dir} is not a folder; pass a sweep folder (hydra.sweep.dir)",
                  file=sys.stderr)  # fmt: skip
            return 1
    if args.preface is not None and args.results is None:
        print("gansweep-report: --preface goes with --results FILE", file=sys.stderr)
        return 1
    if args.results is not None and (args.metric or args.axes):
        print("gansweep-report: --metric and --axes shape one sweep's report; --results lists every metric",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        if args.results is not None:
            from gansweep.report.results import write_results

            write_results(args.results, args.sweep_dirs, args.preface)
            print(f"gansweep-report: wrote {args.results} ({len(args.sweep_dirs)} sweeps)")
            return 0
        for sweep_dir in args.sweep_dirs:
            print(write_report(sweep_dir, args.metric, args.axes).text)
            save_report_options(sweep_dir, args.metric, args.axes)
    except (ValueError, OSError) as error:
        print(f"gansweep-report: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
