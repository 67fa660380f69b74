"""The report's figures: the metric's heatmap over two grid axes (median over seeds) and its curves over training.

matplotlib (Agg) is imported inside the functions, as in gansweep/plots.py; each PNG is written to a temporary file
then renamed, so a reader of a running sweep's folder never sees half an image.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from gansweep.files import write_atomic
from gansweep.report.data import Cell, ReportData, cell_curve, cell_label
from gansweep.report.points import PENDING

BAD_STATUSES = ("failed", "diverged")


def direction(higher: bool) -> str:
    return "(higher is better)" if higher else "(lower is better)"


def heatmap_axes(data: ReportData, axes: Optional[Sequence[str]] = None) -> List[str]:
    """The one or two grid axes the heatmap spans: those asked for (checked), else the grid's first two."""
    if axes is None:
        return data.grid_axes[:2]
    unknown = [a for a in axes if a not in data.grid_axes]
    if unknown or not 1 <= len(axes) <= 2 or len(set(axes)) != len(axes):
        shown = ", ".join(data.grid_axes) or "none (only seeds vary)"
        raise ValueError(f"--axes takes one or two distinct grid axes; got {' '.join(axes)}; this sweep's: {shown}")
    return list(axes)


def cell_text(cell: Optional[Cell]) -> str:
    """What a heatmap cell says: median (3 significant digits) and n, then its failed, diverged, interrupted and
    pending counts (all a grey cell, with no ok point, says)."""
    if cell is None:
        return "no point"
    counts = [f"{cell.count(s)} {s}" for s in (*BAD_STATUSES, "interrupted", PENDING) if cell.count(s)]
    if cell.median is None:
        return "\n".join(counts) or "no value"
    return "\n".join([f"{cell.median:.3g}", f"n={cell.n}", *counts])


def _panels(data: ReportData, shown: Sequence[str]) -> List[Dict[str, str]]:
    """One panel per combination of the grid axes the heatmap does not span (one empty panel when there are none)."""
    rest = [a for a in data.grid_axes if a not in shown]
    combos = itertools.product(*(data.axis_values[a] for a in rest))
    return [dict(zip(rest, combo, strict=True)) for combo in combos]


def _lookup(data: ReportData) -> Dict[Tuple[str, ...], Cell]:
    return {cell.values: cell for cell in data.cells}


def plot_heatmap(path: Path, data: ReportData, axes: Optional[Sequence[str]] = None) -> Optional[Path]:
    """The metric's median over seeds over two grid axes (a single row for one), one panel per combination of the
    other grid axes; grey cells have no ok point. None (nothing written) when there is no grid axis or no metric."""
    shown = heatmap_axes(data, axes)
    if not shown or data.metric is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows_axis, cols_axis = (shown[0], shown[1]) if len(shown) == 2 else (None, shown[0])
    row_values = data.axis_values[rows_axis] if rows_axis else [""]
    col_values = data.axis_values[cols_axis]
    panels = _panels(data, shown)
    cells = _lookup(data)
    medians = [c.median for c in data.cells if c.median is not None]
    vmin, vmax = (min(medians), max(medians)) if medians else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    cmap = matplotlib.colormaps["viridis" if data.higher_is_better else "viridis_r"].copy()  # bright = better
    cmap.set_bad("lightgrey")
    norm = matplotlib.colors.Normalize(vmin=vmin, vmax=vmax)

    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    width = max(4.0, 1.3 * len(col_values) + 2.5)
    height = max(2.2, 0.9 * len(row_values) + 1.6)
    fig, grid = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), dpi=100, squeeze=False)
    for ax, fixed in zip(grid.flat, panels, strict=False):
        values = np.full((len(row_values), len(col_values)), np.nan)
        for i, row in enumerate(row_values):
            for j, col in enumerate(col_values):
                at = {**fixed, cols_axis: col, **({rows_axis: row} if rows_axis else {})}
                cell = cells.get(tuple(at[a] for a in data.grid_axes))
                if cell is not None and cell.median is not None:
                    values[i, j] = cell.median
                rgba = cmap(norm(values[i, j])) if np.isfinite(values[i, j]) else (0.83, 0.83, 0.83, 1)
                ink = "black" if 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] > 0.5 else "white"
                ax.text(j, i, cell_text(cell), ha="center", va="center", fontsize=8, color=ink)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(col_values)), col_values, rotation=30 if max(map(len, col_values)) > 6 else 0)
        ax.set_xlabel(cols_axis)
        ax.set_yticks(range(len(row_values)), row_values)
        ax.set_ylabel(rows_axis or "")
        ax.set_title(" ".join(f"{k}={v}" for k, v in fixed.items()), fontsize=9)
        fig.colorbar(image, ax=ax, label=f"{data.metric}\n{direction(data.higher_is_better)}")
    for ax in list(grid.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{data.sweep_dir.name}: {data.metric}, median over seeds (final values)", fontsize=10)
    fig.tight_layout()
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def plot_curves(path: Path, data: ReportData) -> Optional[Path]:
    """The metric over generator iterations, one line per cell (median over its ok seeds, min..max shaded); a cell
    evaluated at one step is a marker. None (nothing written) when no ok point logged an evaluation of the metric."""
    curves = [(cell, cell_curve(data, cell)) for cell in data.cells]
    curves = [(cell, curve) for cell, curve in curves if curve]
    if not curves or data.metric is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    colours = matplotlib.colormaps["tab10" if len(curves) <= 10 else "tab20"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for index, (cell, curve) in enumerate(curves):
        steps, median, low, high = zip(*curve, strict=True)
        colour = colours(index % colours.N)
        label = cell_label(data.grid_axes, cell.values)
        if len(steps) == 1:
            ax.errorbar(steps, median, yerr=[[median[0] - low[0]], [high[0] - median[0]]], fmt="o", color=colour,
                        capsize=3, label=label)  # fmt: skip
            continue
        ax.plot(steps, median, color=colour, label=label)
        ax.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.set_xlabel("generator iterations")
    ax.set_ylabel(f"{data.metric} {direction(data.higher_is_better)}")
    ax.set_title(f"{data.sweep_dir.name}: {data.metric} during training, median over seeds (min..max shaded)",
                 fontsize=9)  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", ncol=1 if len(curves) <= 8 else 2)
    fig.tight_layout()
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
