"""`gansweep-report --results FILE SWEEP_DIR...`: one document of several sweeps' results (e.g. docs/results.md), each
with the command line that ran it, its budget and wall time, and every cell's metrics as mean +- std over its seeds.

Everything in it is read from the sweep folders (multirun.yaml, metrics.json records, run configs, jobs.jsonl); a
preface file, when given, is copied in first (what the runs show, written by a person who read them).
"""

from __future__ import annotations

import json
import shlex
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from omegaconf import OmegaConf

from gansweep.files import write_text_atomic
from gansweep.grid import MULTIRUN_FILE
from gansweep.report.data import ReportData, build_cells, final_value, load_report_data
from gansweep.report.points import Point
from gansweep.report.table import render_markdown

JOBS_FILE = "jobs.jsonl"
BUDGET_KEYS = ("train.iters", "train.n_critic", "train.batch_size")


def sweep_command(sweep_dir: Path) -> str:
    """The command line that launched the sweep, from Hydra's multirun.yaml (task and hydra overrides)."""
    saved = OmegaConf.load(Path(sweep_dir) / MULTIRUN_FILE)
    keys = ("hydra.overrides.task", "hydra.overrides.hydra")
    overrides = [o for key in keys for o in OmegaConf.select(saved, key, default=None) or []]
    overrides = [o for o in overrides if not str(o).startswith("hydra.mode=")]  # what -m says
    return "gansweep -m " + " ".join(shlex.quote(str(o)) for o in overrides)


def budget(sweep_dir: Path, points: Sequence[Point]) -> str:
    """Each budget key's values over the points' saved configs, e.g. `train.iters=1500`."""
    values: Dict[str, Dict[str, None]] = {key: {} for key in BUDGET_KEYS}
    for point in points:
        config = Path(sweep_dir) / point.run / "config.yaml"
        if point.run and config.is_file():
            cfg = OmegaConf.load(config)
            for key in BUDGET_KEYS:
                values[key][str(OmegaConf.select(cfg, key, default="?"))] = None
    return ", ".join(f"{key}={'/'.join(found)}" for key, found in values.items() if found) or "unknown"


def wall_time(sweep_dir: Path) -> Optional[float]:
    """Seconds during which some job of the sweep ran (the union of jobs.jsonl's start-end spans: parallel jobs count
    once, the gap before a resume not at all); None without a finished job."""
    path = Path(sweep_dir) / JOBS_FILE
    if not path.is_file():
        return None
    jobs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    spans = sorted((job["start"], job["end"]) for job in jobs if job.get("start") is not None and job.get("end"))
    total, covered_to = 0.0, float("-inf")
    for start, end in spans:
        total += max(0.0, end - max(start, covered_to))
        covered_to = max(covered_to, end)
    return total if spans else None


def mean_std(values: Sequence[float]) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    return f"{mean:.4g} ± {statistics.stdev(values):.2g}" if len(values) > 1 else f"{mean:.4g}"


def cell_table(data: ReportData) -> str:
    """One row per cell, in grid order: its axes' values, ok points of all (and pruned ones, where an adaptive sweep
    pruned some), and each metric's mean +- std."""
    rows = []
    pruned = bool(data.points_with("pruned"))
    for cell in build_cells(data.points, data.grid_axes):
        ok = [p for p in cell.points if p.status == "ok"]
        row = dict(zip(data.grid_axes, cell.values, strict=True))
        row["ok / points"] = f"{len(ok)} / {len(cell.points)}"
        if pruned:
            row["pruned"] = str(cell.count("pruned"))
        for metric in data.metrics_present:
            row[metric] = mean_std([v for v in (final_value(p, metric) for p in ok) if v is not None])
        rows.append(row)
    return render_markdown(rows)


def sweep_section(sweep_dir: Path) -> List[str]:
    """A sweep's section: title, command, budget and time, the cell table, and where its own report is."""
    data = load_report_data(sweep_dir)
    seconds = wall_time(sweep_dir)
    seeds = "one per cell" if data.seed_axis is None else "mean ± std over the seeds of each cell"
    lines = [f"## {data.sweep_dir.name}", "", "```", sweep_command(sweep_dir), "```", ""]
    lines.append(f"Budget: {budget(sweep_dir, data.points)}. Final metrics (metrics.json) of the ok points, {seeds}.")
    if seconds is not None:
        lines.append(f"Wall time (some job running): {seconds / 60:.1f} min for {len(data.points)} points.")
    return lines + ["", cell_table(data), ""]


def write_results(out: Path, sweep_dirs: Sequence[Path], preface: Optional[Path] = None) -> str:
    """Write the results document for `sweep_dirs` to `out` (atomically) and return it; ValueError when a folder
    holds no point or no multirun.yaml."""
    for sweep_dir in sweep_dirs:
        if not (Path(sweep_dir) / MULTIRUN_FILE).is_file():
            raise ValueError(f"{sweep_dir} has no {MULTIRUN_FILE}: pass sweep folders (hydra.sweep.dir of a -m run)")
    lines = ["# Results", ""]
    if preface is not None:
        lines += [Path(preface).read_text().rstrip(), ""]
    given = ["--results", str(out), *(["--preface", str(preface)] if preface is not None else [])]
    command = " ".join(shlex.quote(arg) for arg in [*given, *map(str, sweep_dirs)])
    lines += [f"Written by `gansweep-report {command}` from these sweep folders.", ""]
    for sweep_dir in sweep_dirs:
        lines += sweep_section(Path(sweep_dir))
    text = "\n".join(lines)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(out), text)
    return text
