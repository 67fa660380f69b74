"""The numbers behind a sweep's report: its points (gansweep.report.points), their cells over seeds, and the ranking.

Pure data, no plotting: a cell is one combination of the grid axes' values (every varying key but `seed`), its
seeds aggregated (median, mean, std of the final metrics.json values, and the best value seen during training).
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gansweep.grid import parse_overrides, read_grid
from gansweep.record import headline_metric, higher_is_better
from gansweep.report.points import Point, collect_points, varying_keys

SEED_KEY = "seed"
CURVES_FILE = Path("logs") / "metrics.csv"
# numbers a record keeps next to its metrics that describe how they were measured, not the generator
NOT_METRICS = ("n_modes", "kid_subsets", "kid_subset_size")


@dataclass
class Cell:
    """One combination of grid-axis values, its seeds aggregated; final values are the headline."""

    values: Tuple[str, ...]  # the grid axes' values, in ReportData.grid_axes order
    points: List[Point]
    n: int = 0  # ok points with a finite final value
    median: Optional[float] = None
    mean: Optional[float] = None
    std: Optional[float] = None  # sample std (ddof=1), None when n < 2
    best_during_training: Optional[float] = None  # median over ok points of each one's best value, final included
    rank: Optional[int] = None  # 1 = best; None when n = 0

    def count(self, status: str) -> int:
        return sum(p.status == status for p in self.points)


@dataclass
class ReportData:
    """Everything a report shows: the points, the axes, the chosen metric and the ranked cells."""

    sweep_dir: Path
    points: List[Point]
    grid_axes: List[str]  # varying keys other than seed
    seed_axis: Optional[str]  # "seed" when it varies
    metric: Optional[str]  # None when no point has recorded a metric yet
    higher_is_better: bool
    metrics_present: List[str]
    cells: List[Cell]  # ranked: best first, cells with n = 0 last
    axis_values: Dict[str, List[str]]  # each grid axis's values, in order of first appearance

    def points_with(self, *statuses: str) -> List[Point]:
        return [p for p in self.points if p.status in statuses]


def metrics_present(records: Sequence[Dict[str, Any]]) -> List[str]:
    """The numeric metric keys some record holds, in order of first appearance."""
    keys: Dict[str, None] = {}
    for rec in records:
        for key, value in (rec.get("metrics") or {}).items():
            if key not in NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool):
                keys[key] = None
    return list(keys)


def choose_metric(records: Sequence[Dict[str, Any]], metric: Optional[str]) -> Optional[str]:
    """The metric asked for (checked against those recorded), or the headline one; ValueError names the choices."""
    present = metrics_present(records)
    if metric is None:
        return headline_metric(present)
    if present and metric not in present:
        raise ValueError(f"metric {metric!r} is in no metrics.json; recorded: {', '.join(present)}")
    return metric


def final_value(point: Point, metric: Optional[str]) -> Optional[float]:
    """The point's metrics.json value of `metric` when the point ended ok and the value is finite, else None."""
    if point.status != "ok" or point.record is None or metric is None:
        return None
    return _finite((point.record.get("metrics") or {}).get(metric))


def _finite(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def read_curve(sweep_dir: Path, run: str, metric: str) -> List[Tuple[int, float]]:
    """The point's interval evaluations of `metric` (`eval/<metric>` in logs/metrics.csv) as (step, value), by step;
    a step logged twice (a resumed run) keeps its last value. Empty when there is no csv or no such column."""
    path = sweep_dir / run / CURVES_FILE
    if not run or not path.is_file():
        return []
    column = f"eval/{metric}"
    by_step: Dict[int, float] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            value, step = _parse_float(row.get(column)), _parse_float(row.get("step"))
            if value is not None and step is not None:
                by_step[int(step)] = value
    return sorted(by_step.items())


def _parse_float(text: Optional[str]) -> Optional[float]:
    try:
        return _finite(float(text)) if text else None
    except ValueError:
        return None


def best_value(curve: Sequence[Tuple[int, float]], final: Optional[float], higher: bool) -> Optional[float]:
    """The best of a point's interval evaluations and its final value (the final alone without a curve)."""
    candidates = [v for _, v in curve] + ([final] if final is not None else [])
    if not candidates:
        return None
    return max(candidates) if higher else min(candidates)


def build_cells(data_points: Sequence[Point], grid_axes: Sequence[str]) -> List[Cell]:
    """Points grouped by their grid-axis values, cells in order of their first point."""
    cells: Dict[Tuple[str, ...], Cell] = {}
    for point in data_points:
        key = tuple(point.values.get(axis, "-") for axis in grid_axes)
        cells.setdefault(key, Cell(key, [])).points.append(point)
    return list(cells.values())


def aggregate(cell: Cell, metric: Optional[str], higher: bool) -> None:
    """Fill the cell's statistics over its ok points: final values, and the best seen during training (from each
    point's `curve`, read once by load_report_data)."""
    finals = [v for v in (final_value(p, metric) for p in cell.points) if v is not None]
    cell.n = len(finals)
    if finals:
        cell.median, cell.mean = statistics.median(finals), statistics.fmean(finals)
        cell.std = statistics.stdev(finals) if len(finals) >= 2 else None
    if metric is None:
        return
    bests = []
    for point in cell.points:
        if point.status == "ok":
            best = best_value(point.curve, final_value(point, metric), higher)
            if best is not None:
                bests.append(best)
    cell.best_during_training = statistics.median(bests) if bests else None


def rank(cells: Sequence[Cell], higher: bool) -> List[Cell]:
    """Cells sorted by median in the metric's direction, rank 1 = best, equal medians sharing a rank (1, 1, 3);
    cells without a value last, unranked."""
    scored = sorted((c for c in cells if c.median is not None), key=lambda c: _score(c, higher))
    for position, cell in enumerate(scored, start=1):
        previous = scored[position - 2] if position > 1 else None
        cell.rank = previous.rank if previous is not None and previous.median == cell.median else position
    return scored + [c for c in cells if c.median is None]


def _score(cell: Cell, higher: bool) -> float:
    """The sort key of a cell with a median: smaller is better."""
    assert cell.median is not None
    return -cell.median if higher else cell.median


def load_report_data(sweep_dir: Path, metric: Optional[str] = None) -> ReportData:
    """Read a sweep folder (finished, partial or still running) into its points, cells and ranking."""
    sweep_dir = Path(sweep_dir).resolve()  # its name titles the report, even when given as "."
    grid = read_grid(sweep_dir)
    points = collect_points(sweep_dir, grid)
    if not points:
        raise ValueError(f"no points under {sweep_dir} (no metrics.json, no run folder, no multirun.yaml grid)")
    records = [p.record for p in points if p.record is not None]
    chosen = choose_metric(records, metric)
    keys = varying_keys(points, grid)
    for point in points:
        parsed = parse_overrides(point.overrides)
        point.values = {k: parsed[k] for k in keys if k in parsed}
        if chosen is not None and point.status == "ok":
            point.curve = read_curve(sweep_dir, point.run, chosen)
    grid_axes = [k for k in keys if k != SEED_KEY]
    higher = higher_is_better(chosen) if chosen else False
    cells = build_cells(points, grid_axes)
    for cell in cells:
        aggregate(cell, chosen, higher)
    axis_values = {axis: list(dict.fromkeys(p.values[axis] for p in points if axis in p.values)) for axis in grid_axes}
    return ReportData(
        sweep_dir=sweep_dir,
        points=points,
        grid_axes=grid_axes,
        seed_axis=SEED_KEY if SEED_KEY in keys else None,
        metric=chosen,
        higher_is_better=higher,
        metrics_present=metrics_present(records),
        cells=rank(cells, higher),
        axis_values=axis_values,
    )


def cell_curve(data: ReportData, cell: Cell) -> List[Tuple[int, float, float, float]]:
    """The cell's metric over generator iterations: (step, median, min, max) over its ok points at each step."""
    by_step: Dict[int, List[float]] = {}
    for point in cell.points:
        for step, value in point.curve:
            by_step.setdefault(step, []).append(value)
    return [(s, statistics.median(v), min(v), max(v)) for s, v in sorted(by_step.items())]


def cell_label(axes: Sequence[str], values: Sequence[str]) -> str:
    """A cell's name: its grid axes' `key=value`, or "all points" when there is no grid axis."""
    return " ".join(f"{k}={v}" for k, v in zip(axes, values, strict=True)) or "all points"
