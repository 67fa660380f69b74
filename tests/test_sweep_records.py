"""metrics.json records and the sweep table built from them."""

import json
import math

import pytest

from gansweep.grid import varying_overrides
from gansweep.record import read_records, write_record
from gansweep.report.table import columns, render_markdown, status_counts, status_line, table_rows


def record(status, overrides, **metrics):
    return {"status": status, "g_iters": 10, "wall_time_s": 1.0, "overrides": overrides, "metrics": metrics}


def test_non_finite_numbers_become_null_and_status_is_checked(tmp_path):
    write_record(tmp_path, record("diverged", [], energy_distance=math.nan, hq_pct=math.inf))
    saved = json.loads((tmp_path / "metrics.json").read_text())  # strict JSON: no NaN tokens
    assert saved["metrics"] == {"energy_distance": None, "hq_pct": None}
    with pytest.raises(ValueError, match="status"):
        write_record(tmp_path, record("crashed", []))


def test_runs_are_read_in_numeric_order(tmp_path):
    for num in (10, 2, 1):
        (tmp_path / str(num)).mkdir()
        write_record(tmp_path / str(num), record("ok", [f"seed={num}"]))
    assert [r["run"] for r in read_records(tmp_path)] == ["1", "2", "10"]


def test_table_shows_grid_axes_and_missing_metrics(tmp_path):
    recs = [
        record("ok", ["loss=wgan", "seed=0"], modes_covered=8, n_modes=8, hq_pct=20.0, energy_distance=0.01),
        record("failed", ["loss=wgan", "seed=1"]),
    ]
    assert varying_overrides([r["overrides"] for r in recs]) == ["seed=0", "seed=1"]
    assert varying_overrides([recs[0]["overrides"]]) == ["loss=wgan seed=0"]
    ok, failed = table_rows(recs)
    assert (ok["modes_covered"], ok["hq_pct"], ok["energy_distance"]) == ("8/8", "20.0", "0.0100")
    assert (failed["status"], failed["modes_covered"], failed["energy_distance"]) == ("failed", "-", "-")
    table = render_markdown(table_rows([dict(rec, run=str(num)) for num, rec in enumerate(recs)]))
    header, _, ok_line, failed_line = table.splitlines()
    assert [c.strip() for c in failed_line.split("|")[1:4]] == ["1", "seed=1", "failed"]
    assert [c.strip() for c in header.split("|")[1:4]] == ["run", "overrides", "status"]
    assert table_rows([dict(record("failed", []), g_iters=None)])[0]["g_iters"] == "-"  # a point that died hard


def test_status_line_counts_and_points_at_errors(tmp_path):
    recs = [{"run": "0", "status": "ok"}, {"run": "1", "status": "diverged"}, {"run": "2", "status": "failed"}]
    line = status_line(recs, tmp_path)
    errors = "errors in 1/metrics.json, 2/metrics.json"
    assert line.startswith(f"gansweep: 3 points: 1 ok, 1 diverged, 1 failed; {errors} under {tmp_path}; ")
    assert "errors" not in status_line(recs[:1], tmp_path)
    many = [{"run": str(i), "status": "failed"} for i in range(12)]
    assert f"9/metrics.json and 2 more under {tmp_path};" in status_line(many, tmp_path, listed=10)


def test_statuses_are_counted_and_unfinished_points_get_a_hint(tmp_path):
    recs = [record("ok", ["seed=0"]), record("interrupted", ["seed=1"]), record("ok", ["seed=2"])]
    write_record(tmp_path, recs[1])  # interrupted is a status a record may have
    assert status_counts(recs) == {"ok": 2, "diverged": 0, "failed": 0, "interrupted": 1}
    line = status_line([dict(r, run=str(i)) for i, r in enumerate(recs)], tmp_path)
    assert line.startswith("gansweep: 3 points: 2 ok, 0 diverged, 0 failed, 1 interrupted")
    assert f"gansweep-resume {tmp_path}` continues" in line and "errors" not in line
    assert "resume.failed=rerun" in status_line([dict(record("failed", []), run="0")], tmp_path)


def test_table_columns_are_the_metrics_recorded_each_named_by_its_extractor(tmp_path):
    recs = [
        record("ok", ["seed=0"], fid_inception=31.234, kid_inception=0.0123456, precision_inception=0.5),
        record("ok", ["seed=1"], modes=997, kl=0.0312, fid_digits=1.5),
        record("failed", ["seed=2"]),
    ]
    cols = columns(recs)
    assert cols == [
        *("run", "overrides", "status", "g_iters", "fid_inception", "kid_inception", "precision_inception"),
        *("modes", "kl", "fid_digits", "wall_time_s"),
    ]
    inception, digits, failed = table_rows(recs)
    assert (inception["fid_inception"], inception["kid_inception"], inception["modes"]) == ("31.23", "0.01235", "-")
    assert (digits["modes"], digits["kl"], digits["fid_inception"]) == ("997/1000", "0.0312", "-")
    assert set(failed.values()) - {"-"} == {"", "seed=2", "failed", "10", "1.0"}  # every metric: "-"
    assert list(inception) == cols
