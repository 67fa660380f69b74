"""`gansweep-report --results FILE SWEEP_DIR...`: the command lines, budgets, wall times and per-cell mean +- std of
every metric, checked against the fixture sweep of test_report (hand-computed statistics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gansweep.report.results import sweep_command, write_results
from gansweep.report.write import main
from tests.test_report import sweep  # noqa: F401  (the fixture)


def add_run_facts(sweep_dir: Path) -> None:
    """A saved config per finished run, the launcher's hydra overrides, and two jobs 90 s apart."""
    for job in ("0", "1"):
        (sweep_dir / job / "config.yaml").write_text("train:\n  iters: 1500\n  n_critic: 5\n  batch_size: 256\n")
    multirun = sweep_dir / "multirun.yaml"
    multirun.write_text(multirun.read_text() + "    hydra: ['hydra.launcher.fuse=3', 'hydra.mode=MULTIRUN']\n")
    jobs = [{"job": 0, "start": 1000.0, "end": 1060.0}, {"job": 1, "start": 1030.0, "end": 1090.0}]  # overlapping
    jobs.append({"job": 2, "start": 5000.0, "end": 5030.0})  # resumed later: the idle gap does not count
    (sweep_dir / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in jobs))


def test_results_document(sweep: Path, tmp_path: Path) -> None:  # noqa: F811
    add_run_facts(sweep)
    preface = tmp_path / "preface.md"
    preface.write_text("What the runs show: the fixture's numbers.\n")
    text = write_results(tmp_path / "docs" / "results.md", [sweep], preface)
    assert (tmp_path / "docs" / "results.md").read_text() == text
    assert text.startswith("# Results\n\nWhat the runs show")
    assert "gansweep -m seed=0,1,2 hydra.launcher.fuse=3" in text
    assert sweep_command(sweep) == "gansweep -m seed=0,1,2 hydra.launcher.fuse=3"
    assert "Budget: train.iters=1500, train.n_critic=5, train.batch_size=256." in text
    assert "Wall time (some job running): 2.0 min for 12 points." in text  # 90 s + 30 s
    rows = {line.split("|")[1].strip() + " " + line.split("|")[2].strip(): line for line in text.splitlines()
            if line.startswith("| 0.000")}  # fmt: skip
    # (1e-4, 1): FID 30, 20, 25 -> 25 +- 5; modes 8, 6, 7 -> 7 +- 1; energy 0.3, 0.2, 0.25 -> 0.25 +- 0.05
    assert "| 3 / 3 " in rows["0.0001 1"] and "25 ± 5 " in rows["0.0001 1"] and "7 ± 1 " in rows["0.0001 1"]
    assert "0.25 ± 0.05" in rows["0.0001 1"]
    assert "| 1 / 3 " in rows["0.0001 10"] and "| 40 " in rows["0.0001 10"]  # one ok, one diverged, one pending
    assert "| 0 / 3 " in rows["0.0002 1"] and "| - " in rows["0.0002 1"]  # all failed: no value
    assert "12 ± 2.8" in rows["0.0002 10"]  # 10 and 14: sample std 2.83
    assert "n_modes" not in text  # how it was measured, not a metric


def test_results_cli(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    out = tmp_path / "results.md"
    assert main([str(sweep), str(sweep), "--results", str(out)]) == 0
    assert out.read_text().count("## lr_gp_sweep") == 2 and "wrote" in capsys.readouterr().out
    not_a_sweep = tmp_path / "plain"
    not_a_sweep.mkdir()
    for argv, expected in [
        ([str(not_a_sweep), "--results", str(out)], "has no multirun.yaml"),
        ([str(sweep), "--preface", str(out)], "--preface goes with --results"),
        ([str(sweep), "--results", str(out), "--metric", "kl"], "--metric and --axes shape one sweep's report"),
        ([str(sweep), "--results", str(out), "--preface", str(tmp_path / "missing.md")], "missing.md"),
    ]:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert expected in err and err.startswith("gansweep-report: ") and len(err.splitlines()) == 1
