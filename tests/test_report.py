"""The sweep report (gansweep-report): cells over seeds, ranking, pending points, report files, figures and CLI."""

from __future__ import annotations

import csv
import math
import shutil
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from PIL import Image

from gansweep.grid import read_grid
from gansweep.record import headline_metric, higher_is_better, write_record
from gansweep.report.data import Cell, ReportData, load_report_data, rank
from gansweep.report.write import main, write_report

LR, W = "optim.lr", "constraint.gp.weight"
MULTIRUN = """\
hydra:
  sweep:
    dir: {sweep_dir}
    subdir: ${{hydra.job.num}}
  sweeper:
    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper
    params:
{params}
  overrides:
    task: {task}
"""
# (optim.lr, constraint.gp.weight, seed) -> status, final metrics, eval/fid_inception curve [(step, value)] or None
FID, MODES, ED = "fid_inception", "modes_covered", "energy_distance"
POINTS: Dict[Tuple[str, str, str], Tuple[str, Dict[str, float], Optional[List[Tuple[int, float]]]]] = {
    ("1e-4", "1", "0"): ("ok", {FID: 30.0, MODES: 8, "n_modes": 8, ED: 0.3}, [(100, 35.0), (200, 28.0)]),
    ("1e-4", "1", "1"): ("ok", {FID: 20.0, MODES: 6, "n_modes": 8, ED: 0.2}, [(100, 22.0), (200, 18.0)]),
    ("1e-4", "1", "2"): ("ok", {FID: 25.0, MODES: 7, "n_modes": 8, ED: 0.25}, [(100, 26.0), (200, 24.0)]),
    ("1e-4", "10", "0"): ("ok", {FID: 40.0, MODES: 3, "n_modes": 8, ED: 0.4}, [(100, 45.0)]),
    ("1e-4", "10", "1"): ("diverged", {}, [(100, 50.0)]),
    # ("1e-4", "10", "2"): pending, no folder at all
    ("2e-4", "1", "0"): ("failed", {}, None),
    ("2e-4", "1", "1"): ("failed", {}, None),
    ("2e-4", "1", "2"): ("failed", {}, None),
    ("2e-4", "10", "0"): ("ok", {FID: 10.0, MODES: 8, "n_modes": 8, ED: 0.1}, [(100, 12.0), (200, 9.0)]),
    ("2e-4", "10", "1"): ("ok", {FID: 14.0, MODES: 8, "n_modes": 8, ED: 0.14}, None),
    ("2e-4", "10", "2"): ("interrupted", {}, None),
}
ERRORS = {"diverged": "non-finite critic loss at step 57", "failed": "RuntimeError: CUDA out of memory"}


def write_multirun(sweep_dir: Path, params: Dict[str, str], task: Sequence[str]) -> None:
    lines = "\n".join(f"      {key}: {value}" for key, value in params.items()) or "      {}"
    task_list = "[" + ", ".join(f'"{t}"' for t in task) + "]"
    text = MULTIRUN.format(sweep_dir=sweep_dir, params=lines, task=task_list)
    (sweep_dir / "multirun.yaml").write_text(text.replace("    params:\n      {}", "    params: {}"))


def write_curve(run_dir: Path, metric: str, curve: Sequence[Tuple[int, float]]) -> None:
    """Lightning's CSV: train rows and eval rows of their own (the other cells empty)."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(run_dir / "logs" / "metrics.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([f"eval/{metric}", "step", "train/critic", "train/generator"])
        for step, value in curve:
            writer.writerow(["", step, -0.1, 0.2])
            writer.writerow([value, step, "", ""])


def write_point(run_dir: Path, status: str, overrides: List[str], metrics: Dict[str, Any], seed: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "error": ERRORS.get(status), "g_iters": 200, "wall_time_s": 1.5, "metrics": metrics}
    write_record(run_dir, {**record, "overrides": overrides, "seed": int(seed)})


def key_of(overrides: Sequence[str]) -> Tuple[str, str, str]:
    values = dict(o.split("=", 1) for o in overrides)
    lr = {"0.0001": "1e-4", "0.0002": "2e-4"}.get(values[LR], values[LR])
    return lr, values[W], values["seed"]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A 2 x 2 grid (optim.lr x constraint.gp.weight) over 3 seeds, with every kind of point (see POINTS)."""
    sweep_dir = tmp_path / "lr_gp_sweep"
    sweep_dir.mkdir()
    write_multirun(sweep_dir, {LR: "1e-4,2e-4", W: "1,10"}, ["seed=0,1,2"])
    grid = read_grid(sweep_dir)
    assert grid is not None and len(grid.points) == 12
    for job, overrides in enumerate(grid.points):
        if key_of(overrides) not in POINTS:
            continue
        status, metrics, curve = POINTS[key_of(overrides)]
        write_point(sweep_dir / str(job), status, overrides, metrics, key_of(overrides)[2])
        if curve:
            write_curve(sweep_dir / str(job), FID, curve)
    return sweep_dir


def cell(data: ReportData, lr: str, weight: str) -> Any:
    (found,) = [c for c in data.cells if c.values == (lr, weight)]
    return found


def lr_value(data: ReportData, lr: str) -> str:
    """The lr as the grid spells it (Hydra's grammar may normalise 1e-4)."""
    (value,) = [v for v in data.axis_values[LR] if math.isclose(float(v), float(lr))]
    return value


def test_points_axes_and_statuses(sweep: Path) -> None:
    data = load_report_data(sweep)
    assert data.grid_axes == [LR, W] and data.seed_axis == "seed"
    assert data.axis_values[W] == ["1", "10"] and len(data.axis_values[LR]) == 2
    statuses = [p.status for p in data.points]
    assert {s: statuses.count(s) for s in set(statuses)} == {
        "ok": 6,
        "diverged": 1,
        "failed": 3,
        "interrupted": 1,
        "pending": 1,
    }
    (pending,) = data.points_with("pending")
    assert pending.run == "" and pending.record is None and key_of(pending.overrides) == ("1e-4", "10", "2")
    assert pending.values[W] == "10" and pending.values["seed"] == "2"
    (diverged,) = data.points_with("diverged")
    assert diverged.error == ERRORS["diverged"] and diverged.run.isdigit()


def test_cells_aggregate_seeds(sweep: Path) -> None:
    data = load_report_data(sweep)
    lo, hi = lr_value(data, "1e-4"), lr_value(data, "2e-4")
    a = cell(data, lo, "1")
    assert (a.n, a.median, a.mean) == (3, 25.0, 25.0)
    assert a.std == pytest.approx(statistics.stdev([30.0, 20.0, 25.0]))  # 5.0
    assert a.best_during_training == statistics.median([28.0, 18.0, 24.0])
    b = cell(data, lo, "10")
    assert (b.n, b.median, b.mean, b.std) == (1, 40.0, 40.0, None)
    assert b.best_during_training == 40.0  # its curve (45) never beat the final value
    assert (b.count("diverged"), b.count("pending"), b.count("failed")) == (1, 1, 0)
    c = cell(data, hi, "1")
    assert (c.n, c.median, c.mean, c.std, c.best_during_training, c.rank) == (0, None, None, None, None, None)
    assert c.count("failed") == 3
    d = cell(data, hi, "10")
    assert (d.n, d.median, d.mean) == (2, 12.0, 12.0)
    assert d.std == pytest.approx(statistics.stdev([10.0, 14.0]))
    assert d.best_during_training == statistics.median([9.0, 14.0])  # the second point has no csv: its final
    assert d.count("interrupted") == 1


def test_ranking_follows_the_metric_direction(sweep: Path) -> None:
    data = load_report_data(sweep)
    assert data.metric == FID and not data.higher_is_better
    ranked = [(c.values[1], c.rank) for c in data.cells]
    lo, hi = lr_value(data, "1e-4"), lr_value(data, "2e-4")
    assert [c.values for c in data.cells] == [(hi, "10"), (lo, "1"), (lo, "10"), (hi, "1")]
    assert [r for _, r in ranked] == [1, 2, 3, None]
    modes = load_report_data(sweep, MODES)
    assert modes.higher_is_better
    assert [(c.values, c.median, c.rank) for c in modes.cells] == [
        ((hi, "10"), 8, 1),
        ((lo, "1"), 7, 2),
        ((lo, "10"), 3, 3),
        ((hi, "1"), None, None),
    ]


def test_equal_medians_share_a_rank() -> None:
    cells = [Cell(("a",), [], median=m) for m in (8.0, 6.0, 8.0, None, 8.0)]
    assert [(c.median, c.rank) for c in rank(cells, higher=True)] == [(8, 1), (8, 1), (8, 1), (6, 4), (None, None)]


def test_default_metric_and_direction(sweep: Path) -> None:
    assert headline_metric(["energy_distance", MODES, "fid_digits", FID]) == FID
    assert headline_metric(["energy_distance", MODES, "fid_digits"]) == "fid_digits"
    assert headline_metric(["energy_distance", MODES]) == MODES
    assert headline_metric(["kl", "energy_distance"]) == "energy_distance"
    assert headline_metric(["kl", "hq_pct"]) == "kl" and headline_metric([]) is None
    for up in (MODES, "modes", "hq_pct", "precision_inception", "recall_inception"):
        assert higher_is_better(up)
    for down in (FID, "kid_inception", "energy_distance", "kl", "fid_digits"):
        assert not higher_is_better(down)
    with pytest.raises(ValueError, match="fid_inception.*energy_distance|energy_distance.*fid_inception"):
        load_report_data(sweep, "fid_digits")


def test_report_files(sweep: Path) -> None:
    report = write_report(sweep)
    assert report.metric == FID and not report.higher_is_better
    assert report.table_columns == [
        "rank",
        LR,
        W,
        "median",
        "mean",
        "std",
        "n",
        "best_during_training",
        "diverged",
        "failed",
        "interrupted",
        "pending",
    ]
    assert [row[0] for row in report.table_rows] == [1, 2, 3, None]
    assert report.table_rows[0][3:] == [12.0, 12.0, pytest.approx(math.sqrt(8)), 2, 11.5, 0, 0, 1, 0]
    with open(sweep / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["rank"] for r in rows] == ["1", "2", "3", ""]
    assert [(float(r["median"]) if r["median"] else None) for r in rows] == [12.0, 25.0, 40.0, None]
    assert (rows[2]["std"], rows[2]["n"], rows[2]["diverged"], rows[2]["pending"]) == ("", "1", "1", "1")
    assert (rows[3]["n"], rows[3]["failed"], rows[3]["best_during_training"]) == ("0", "3", "")
    assert float(rows[1]["std"]) == pytest.approx(5.0) and float(rows[1]["best_during_training"]) == 24.0
    with open(sweep / "report_points.csv", newline="") as fh:
        points = list(csv.DictReader(fh))
    assert len(points) == 12 and "error" in points[0]
    assert sorted(p["status"] for p in points).count("pending") == 1
    assert [p["error"] for p in points if p["status"] == "failed"] == [ERRORS["failed"]] * 3
    assert {p.name for p in report.plots} == {"heatmap.png", "curves.png"}


def test_report_markdown(sweep: Path) -> None:
    report = write_report(sweep)
    md = (sweep / "report.md").read_text()
    assert md == report.markdown and md.startswith("# Sweep report: lr_gp_sweep")
    assert "`fid_inception` (lower is better)" in md
    assert "12 points: 6 ok, 1 diverged, 3 failed, 1 interrupted, 1 pending" in md
    assert "![heatmap](heatmap.png)" in md and "![curves](curves.png)" in md
    assert "best during training" in md and "12 ± 2.828" in md and "25 ± 5" in md
    assert md.count(ERRORS["failed"]) == 3 and ERRORS["diverged"] in md
    assert "(no folder yet)" in md and ": interrupted" in md
    assert md.index("## Ranking") < md.index("## Failed") < md.index("## Pending") < md.index("## Every point")
    for name in ("report.md", "report.csv", "report_points.csv"):
        assert str(sweep.parent) not in (sweep / name).read_text()  # relative paths only: the folder can move
    assert report.text.startswith("| rank |")
    assert report.text.endswith(
        f"(report: {sweep / 'report.md'}; ranked by fid_inception (lower is better), median over seeds)"
    )


def check_png(path: Path, min_size: Tuple[int, int] = (300, 150)) -> Tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        return image.size


def test_figures_are_valid_pngs(sweep: Path) -> None:
    write_report(sweep)
    check_png(sweep / "heatmap.png")
    check_png(sweep / "curves.png")
    assert not list(sweep.glob("*.tmp"))
    write_report(sweep, axes=[W, LR])  # the caller picks the heatmap's axes
    check_png(sweep / "heatmap.png")


def test_cli_exit_codes(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--metric", MODES]) == 0
    out = capsys.readouterr().out
    assert "report.md" in out and out.index("| 1 ") < out.index("| 3 ")
    assert (sweep / "report.md").read_text().count("(higher is better)") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv, expected in [
        ([str(empty)], "no points"),
        ([str(tmp_path / "missing")], "not a folder"),
        ([str(sweep), "--metric", "fid_digits"], "recorded: fid_inception"),
        ([str(sweep), "--axes", "optim.beta1"], f"{LR}, {W}"),
        ([str(sweep), "--axes", LR, W, "seed"], "one or two"),
    ]:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1 and err.startswith("gansweep-report: ")


def test_without_grid_pending_folders_come_from_hydra_overrides(sweep: Path) -> None:
    (sweep / "multirun.yaml").unlink()
    started = sweep / "99" / ".hydra"
    started.mkdir(parents=True)
    (started / "overrides.yaml").write_text(f"- {LR}=0.0001\n- {W}=10\n- seed=2\n")
    data = load_report_data(sweep)
    assert data.grid_axes == [LR, W] and data.seed_axis == "seed"
    (pending,) = data.points_with("pending")
    assert pending.run == "99" and pending.values == {LR: "0.0001", W: "10", "seed": "2"}
    assert len(data.points) == 12 and cell(data, lr_value(data, "1e-4"), "10").count("pending") == 1


def test_started_job_folder_is_named_and_strangers_are_kept(sweep: Path) -> None:
    grid = read_grid(sweep)
    assert grid is not None
    (job,) = [i for i, o in enumerate(grid.points) if key_of(o) == ("1e-4", "10", "2")]
    (sweep / str(job)).mkdir()  # started: the folder exists, no metrics.json (nor .hydra) yet
    write_point(sweep / "extra", "ok", [f"{LR}=0.0005", f"{W}=1", "seed=0"], {FID: 5.0}, "0")
    data = load_report_data(sweep)
    (pending,) = data.points_with("pending")
    assert pending.run == str(job)
    assert data.points[-1].run == "extra" and data.cells[0].values == ("0.0005", "1") and data.cells[0].rank == 1


def test_only_seeds_vary_no_heatmap(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "seeds"
    sweep_dir.mkdir()
    write_multirun(sweep_dir, {}, ["seed=0,1", "loss=wgan"])
    grid = read_grid(sweep_dir)
    assert grid is not None
    for job, (overrides, fid) in enumerate(zip(grid.points, (3.0, 5.0), strict=True)):
        write_point(sweep_dir / str(job), "ok", overrides, {"fid_digits": fid}, str(job))
        write_curve(sweep_dir / str(job), "fid_digits", [(10, fid + 1)])  # one step: drawn as a marker
    (sweep_dir / "heatmap.png").write_bytes(b"stale")  # an earlier report's figure is not left behind
    report = write_report(sweep_dir)
    assert report.metric == "fid_digits" and report.table_columns[:2] == ["rank", "median"]
    assert report.table_rows == [[1, 4.0, 4.0, pytest.approx(math.sqrt(2)), 2, 4.0, 0, 0, 0, 0]]
    assert "No heatmap: no grid axis varies (only seeds)." in report.markdown
    assert not (sweep_dir / "heatmap.png").exists() and [p.name for p in report.plots] == ["curves.png"]
    check_png(sweep_dir / "curves.png")
    with pytest.raises(ValueError, match="none \\(only seeds vary\\)"):
        write_report(sweep_dir, axes=[LR])


def test_three_grid_axes_make_panels_and_running_sweep_reports(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "three"
    sweep_dir.mkdir()
    write_multirun(sweep_dir, {LR: "1e-4,2e-4", W: "1,10", "loss": "wgan,bolt,nsgan"}, ["seed=0"])
    grid = read_grid(sweep_dir)
    assert grid is not None and len(grid.points) == 12
    running = write_report(sweep_dir)  # nothing has finished: every point pending, no metric yet
    assert running.metric is None and running.plots == []
    assert "12 points: 0 ok, 0 diverged, 0 failed, 0 interrupted, 12 pending" in running.markdown
    for job, overrides in enumerate(grid.points[:7]):
        status = "failed" if job == 3 else "ok"
        write_point(sweep_dir / str(job), status, overrides, {"energy_distance": 0.1 * (job + 1)}, "0")
    report = write_report(sweep_dir)
    assert report.metric == "energy_distance" and report.table_columns[1:4] == [LR, W, "loss"]
    assert [p.name for p in report.plots] == ["heatmap.png"]  # no logs/metrics.csv: no curves
    single = check_png(sweep_dir / "heatmap.png")
    with pytest.raises(ValueError, match="one or two"):
        write_report(sweep_dir, axes=[LR, LR])
    write_report(sweep_dir, axes=["loss"])  # one axis shown: a row per panel, a panel per (lr, weight)
    check_png(sweep_dir / "heatmap.png")
    assert single[0] > 600  # three panels side by side


def test_sample_like_sweep_copy_still_reads(sweep: Path, tmp_path: Path) -> None:
    write_report(sweep)
    moved = tmp_path / "elsewhere" / "copied"
    shutil.copytree(sweep, moved)
    again = write_report(moved)
    assert again.table_rows == write_report(sweep).table_rows
    assert "lr_gp_sweep" not in again.markdown and "# Sweep report: copied" in again.markdown


def test_long_errors_are_cut_in_markdown_only(sweep: Path) -> None:
    grid = read_grid(sweep)
    assert grid is not None
    (job,) = [i for i, o in enumerate(grid.points) if key_of(o) == ("2e-4", "1", "0")]
    error = "ValueError: " + "x" * 1000 + "\nsecond line"
    write_record(sweep / str(job), {"status": "failed", "error": error, "metrics": {}, "overrides": grid.points[job]})
    report = write_report(sweep)
    (line,) = [ln for ln in report.markdown.splitlines() if ln.startswith(f"- `{job}`")]
    assert line.endswith("...") and len(line) < 450 and "second line" not in report.markdown
    with open(sweep / "report_points.csv", newline="") as fh:
        assert [r["error"] for r in csv.DictReader(fh) if r["run"] == str(job)] == [error]
