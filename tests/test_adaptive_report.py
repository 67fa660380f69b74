"""An adaptive sweep in its report and on W&B (issue 23, part 7): the study summary the sweep leaves
(gansweep.search.summary: each trial's reported evaluations, its state and folder, the rungs), the rung plot drawn
from it alone (gansweep.report.rungs), the study section that shows both, pruned points counted apart in the
tables, a trial's W&B run tagged with its study and its final status, and the study's storage read by
optuna-dashboard."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import optuna
import pytest
from PIL import Image

from gansweep.report.rungs import RUNGS_PNG, rung_caption, rung_figure, rung_plot_data
from gansweep.report.study import study_section
from gansweep.search.summary import build_summary, rung_iterations, write_summary
from gansweep.studies import PRUNER_ATTR, SUMMARY
from tests.test_adaptive import SWEEP
from tests.wandb_files import WANDB_CLI, offline_runs

ASHA = {"name": "asha", "first_eval": 10, "trial_iters": 90, "reduction_factor": 3}


def hand_made_summary() -> Dict[str, Any]:
    """A finished ASHA study of five trials over 90 generator iterations, evaluated every 10: two complete (trial 2
    the best), one pruned at the first rung (10), one at the second (30), one failed before its first evaluation."""

    def trial(number: int, state: str, steps: List[int], values: List[float], value: Any = None) -> Dict[str, Any]:
        return {
            "number": number,
            "state": state,
            "status": {"complete": "ok", "fail": "diverged"}.get(state, state),
            "folder": str(number),
            "params": {"optim.lr": 10.0 ** -(number + 1)},
            "value": value,
            "intermediate": [[s, v] for s, v in zip(steps, values, strict=True)],
            "spent": steps[-1] if steps else 0,
        }

    nine = list(range(10, 100, 10))
    return {
        "study": "toy",
        "metric": "energy_distance",
        "direction": "minimize",
        "trials": {"running": 0, "complete": 2, "pruned": 2, "fail": 1, "waiting": 0},
        "best": {"trial": 2, "value": 0.05, "params": {"optim.lr": 0.001}, "folder": "2"},
        "spent": 220,
        "grid": 450,
        "pruner": ASHA,
        "budget": 90,
        "rungs": [10, 30],
        "per_trial": [
            trial(0, "complete", nine, [1.0 - 0.05 * k for k in range(9)], value=0.6),
            trial(1, "pruned", [10], [2.0]),
            trial(2, "complete", nine, [0.9 - 0.1 * k for k in range(9)], value=0.05),
            trial(3, "pruned", [10, 20, 30], [1.1, 1.0, float("nan")]),  # a non-finite value is never drawn
            trial(4, "fail", [], []),
        ],
    }


def test_the_rungs_of_each_pruner_in_generator_iterations():
    assert rung_iterations(ASHA, 90) == [10, 30]  # the budget's own end prunes nothing
    assert rung_iterations(ASHA, 91) == [10, 30, 90]
    assert rung_iterations({**ASHA, "name": "hyperband", "reduction_factor": 2}, 90) == [10, 20, 40, 80]
    assert rung_iterations({**ASHA, "name": "median"}, 90) == []  # median decides at every evaluation
    assert rung_iterations({**ASHA, "name": "none"}, 90) == [] and rung_iterations(None, 90) == []


def test_the_rung_plot_draws_each_trial_where_it_reported_and_the_rungs(tmp_path: Path):
    plot = rung_plot_data(hand_made_summary())
    assert plot is not None and plot.rungs == (10, 30) and plot.budget == 90
    lines = {line.number: line for line in plot.lines}
    assert sorted(lines) == [0, 1, 2, 3]  # trial 4 reported nothing: no line
    assert lines[1].steps == (10,) and lines[1].values == (2.0,) and lines[1].stopped_at == 10
    assert lines[3].steps == (10, 20) and lines[3].stopped_at == 20
    assert lines[2].best and not lines[0].best and lines[0].stopped_at is None
    assert lines[2].steps == tuple(range(10, 100, 10)) and lines[2].values[-1] == pytest.approx(0.1)
    caption = rung_caption(plot)
    assert (
        "ASHA" in caption
        and "10, 30" in caption
        and "trial, 2, in red" in caption
        and "4 trials reported one; 2 pruned" in caption
    )

    import matplotlib.pyplot as plt

    fig = rung_figure(plot, "toy")
    try:
        (ax,) = fig.axes
        drawn = [(list(map(float, ln.get_xdata())), list(map(float, ln.get_ydata()))) for ln in ax.lines]
        verticals = sorted(xs[0] for xs, ys in drawn if len(set(xs)) == 1 and len(xs) == 2 and ys == [0.0, 1.0])
        assert verticals == [10.0, 30.0, 90.0]  # the two rungs, and the budget's end
        ends = {  # a marker alone at each trial's last evaluation: a cross where a pruned one stopped
            (float(ln.get_xdata()[0]), round(float(ln.get_ydata()[0]), 9), ln.get_marker())
            for ln in ax.lines
            if ln.get_linestyle() == "None"
        }
        assert ends == {(10.0, 2.0, "x"), (20.0, 1.0, "x"), (90.0, 0.6, "o"), (90.0, 0.1, "o")}
        trials = [(xs, ys) for (xs, ys), ln in zip(drawn, ax.lines, strict=True) if ln.get_marker() == "."]
        assert sorted((xs[0], len(xs)) for xs, _ in trials) == [(10, 1), (10, 2), (10, 9), (10, 9)]  # each trial's
        assert ax.lines[-1].get_color() == "tab:red"  # the best trial drawn over the others
        assert "rungs" in [t.get_text() for t in ax.get_legend().get_texts()]
    finally:
        plt.close(fig)


def test_the_study_section_shows_the_best_trial_its_config_and_the_rung_plot(tmp_path: Path):
    sweep = tmp_path / "toy"
    (sweep / SUMMARY).parent.mkdir(parents=True)
    (sweep / SUMMARY).write_text(json.dumps(hand_made_summary()))
    (sweep / "2").mkdir()
    (sweep / "2" / "config.yaml").write_text("optim:\n  lr: 0.001\n")
    text = "\n".join(study_section(sweep))
    best = "Best: trial 2 (folder `2`), 0.05: `optim.lr=0.001`. Its whole config: [`2/config.yaml`](2/config.yaml)."
    assert best in text
    assert "Generator iterations spent: 220 of the full grid's 450 (48.9%)." in text
    assert f"![rungs]({RUNGS_PNG})" in text and "Dashed vertical lines" in text
    width, height = Image.open(sweep / RUNGS_PNG).size
    assert (width, height) == (750, 450)
    older = {k: v for k, v in hand_made_summary().items() if k not in ("per_trial", "rungs", "pruner")}
    (sweep / SUMMARY).write_text(json.dumps(older))  # an older sweep's summary: the section, no rung plot
    text = "\n".join(study_section(sweep))
    assert "Best: trial 2" in text and RUNGS_PNG not in text and not (sweep / RUNGS_PNG).exists()


def test_the_summary_holds_what_the_trials_reported_from_their_own_processes(tmp_path: Path):
    from gansweep.record import write_record

    address = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=address, study_name="toy")
    study.set_user_attr(PRUNER_ATTR, ASHA)
    reports = {0: {10: 1.0, 20: 0.8, 30: 0.5}, 1: {10: 3.0}, 2: {}}
    trials = [study.ask() for _ in reports]
    for trial, steps in zip(trials, reports.values(), strict=True):  # each from the trial's own process
        theirs = optuna.trial.Trial(optuna.load_study(study_name="toy", storage=address), trial._trial_id)
        for step, value in steps.items():
            theirs.report(value, step)
    study.tell(trials[0], 0.4)
    study.tell(trials[1], state=optuna.trial.TrialState.PRUNED)
    study.tell(trials[2], state=optuna.trial.TrialState.FAIL)
    for number, status in enumerate(("ok", "pruned", "diverged")):
        (tmp_path / str(number)).mkdir()
        write_record(tmp_path / str(number), {"status": status, "overrides": [f"search.trial={number}", "seed=0"]})

    summary = write_summary(tmp_path, study, "energy_distance", "minimize", 270, address)
    assert json.loads((tmp_path / SUMMARY).read_text()) == summary
    per_trial = summary["per_trial"]
    assert [t["intermediate"] for t in per_trial] == [[[10, 1.0], [20, 0.8], [30, 0.5]], [[10, 3.0]], []]
    assert [(t["state"], t["status"], t["folder"]) for t in per_trial] == [
        ("complete", "ok", "0"),
        ("pruned", "pruned", "1"),
        ("fail", "diverged", "2"),
    ]
    assert [t["spent"] for t in per_trial] == [30, 10, 0] and summary["spent"] == 40 and summary["grid"] == 270
    assert summary["best"] == {"trial": 0, "value": 0.4, "params": {}, "folder": "0"}
    assert summary["trials"]["complete"] == summary["trials"]["pruned"] == summary["trials"]["fail"] == 1
    assert (summary["pruner"], summary["budget"], summary["rungs"]) == (ASHA, 90, [10, 30])

    maximising = build_summary("toy", "modes_covered", "maximize", study.get_trials(), None, None)
    assert maximising["best"]["trial"] == 0 and maximising["rungs"] == [] and maximising["pruner"] is None


def test_pruned_points_are_counted_apart_in_the_ranked_table_and_the_results(tmp_path: Path):
    import csv

    from gansweep.report.data import load_report_data
    from gansweep.report.results import cell_table
    from gansweep.report.write import write_report
    from tests.test_report import write_multirun, write_point

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    write_multirun(sweep, {"optim.lr": "0.0001,0.001"}, ["seed=0,1,2"])
    statuses = {("0.0001", 0): "ok", ("0.0001", 1): "pruned", ("0.0001", 2): "pruned", ("0.001", 0): "ok"}
    statuses.update({("0.001", 1): "ok", ("0.001", 2): "failed"})
    for num, ((lr, seed), status) in enumerate(statuses.items()):
        metrics = {"energy_distance": 0.1 * (num + 1)} if status == "ok" else {}
        write_point(sweep / str(num), status, [f"optim.lr={lr}", f"seed={seed}"], metrics, str(seed))
    write_report(sweep)
    with open(sweep / "report.csv", newline="") as fh:
        rows = {row["optim.lr"]: row for row in csv.DictReader(fh)}
    assert {lr: (row["n"], row["pruned"], row["failed"]) for lr, row in rows.items()} == {
        "0.0001": ("1", "2", "0"),
        "0.001": ("2", "0", "1"),
    }
    assert "6 points: 3 ok, 0 diverged, 1 failed, 0 interrupted, 2 pruned" in (sweep / "report.md").read_text()
    header, rule, *lines = cell_table(load_report_data(sweep)).splitlines()
    assert [c.strip() for c in header.strip("|").split("|")][:3] == ["optim.lr", "ok / points", "pruned"]
    assert [[c.strip() for c in line.strip("|").split("|")][:3] for line in lines] == [
        ["0.0001", "1 / 3", "2"],
        ["0.001", "2 / 3", "0"],
    ]


def run_records(run_path: Path) -> List[Dict[str, Any]]:
    """An offline W&B run's records, read with wandb's own reader (as tests.wandb_files does)."""
    out = subprocess.run(
        [str(WANDB_CLI), "leet", "inspect", "--json", str(run_path)], capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def final_tags(run_path: Path) -> List[str]:
    """The run's tags as it closed: its last run record (a run whose tags change records the run again)."""
    return list([r["run"] for r in run_records(run_path) if r["type"] == "run"][-1].get("tags") or [])


def test_a_trials_wandb_run_is_tagged_with_its_study_and_its_final_status(tmp_path: Path, monkeypatch):
    from gansweep.run.task import train
    from tests.conftest import compose_config

    monkeypatch.setenv("WANDB_MODE", "offline")
    address = f"sqlite:///{tmp_path / 'optuna.db'}"
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)
    study = optuna.create_study(storage=address, study_name="toy-study", pruner=pruner)
    study.set_user_attr(PRUNER_ATTR, {"name": "asha", "first_eval": 2, "trial_iters": 6, "reduction_factor": 3})
    for value in (-3.0, -2.0, -1.0):  # three finished trials set the first rung below any energy distance
        trial = study.ask()
        trial.report(value, 2)
        trial.should_prune()  # ASHA records a trial's rung value when the trial asks it
        study.tell(trial, value)
    trial = study.ask()
    search = [f"search.storage='{address}'", "search.study=toy-study", f"search.trial={trial.number}"]
    overrides = ["arch.hidden=16", "train.batch_size=32", "metrics.num_samples=200", "logger=wandb", "train.iters=6"]
    overrides += ["metrics.every=2", "train.sample_every=null", "search.metric=energy_distance", *search]
    train(compose_config(overrides, out_dir=tmp_path / "run", multirun=True))
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (record["status"], record["pruned_at"]) == ("pruned", 2)
    (path,) = offline_runs(tmp_path / "run" / "wandb")
    records = run_records(path)
    first = [r["run"] for r in records if r["type"] == "run"][0]
    assert "study=toy-study" in first["tags"] and not any(t.startswith("status=") for t in first["tags"])
    tags = final_tags(path)
    assert {"study=toy-study", "status=pruned", "loss=wgan"} <= set(tags)
    exit_code = [r["exit"].get("exit_code", 0) for r in records if r["type"] == "exit"]
    assert exit_code == [0]  # pruned is the study's decision, not a failure


def dashboard_get(app: Any, path: str) -> Dict[str, Any]:
    """GET `path` of optuna-dashboard's app (its JSON API, as its web page asks it), without a server."""
    from wsgiref.util import setup_testing_defaults

    environ: Dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    status: List[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status == ["200 OK"], body[:500]
    return json.loads(body)


def test_optuna_dashboard_reads_a_sweeps_study_storage(tmp_path: Path):
    from optuna_dashboard import wsgi

    from gansweep.search.distributions import distributions
    from gansweep.search.settings import SearchSettings
    from gansweep.search.space import parse_space
    from gansweep.search.storage import storage_address
    from gansweep.search.study import open_study, tell
    from gansweep.studies import open_storage

    sweep = tmp_path / "sweep"  # the study as the sweep makes it: its settings, its storage in the sweep folder
    space = parse_space({"optim.lr": "1e-4,1e-3"})
    study = open_study(SearchSettings(metric="energy_distance"), space, sweep, 10, 90)
    for value in (0.5, 0.7):
        trial = study.ask(distributions(space))  # as the sweep asks: the grid sampler's next point
        trial.report(value + 0.1, 10)
        tell(study, trial, value)
    app = wsgi(open_storage(storage_address(None, sweep)))  # what `optuna-dashboard STORAGE` serves
    (listed,) = dashboard_get(app, "/api/studies")["study_summaries"]
    assert listed["study_name"] == "sweep" and listed["directions"] == ["minimize"]
    detail = dashboard_get(app, f"/api/studies/{listed['study_id']}")
    assert [(t["number"], t["state"], t["values"]) for t in detail["trials"]] == [
        (0, "Complete", [0.5]),
        (1, "Complete", [0.7]),
    ]
    assert [t["intermediate_values"] for t in detail["trials"]] == [
        [{"step": 10, "value": 0.6}],
        [{"step": 10, "value": pytest.approx(0.8)}],
    ]
    params = [[(p["name"], p["param_external_value"]) for p in t["params"]] for t in detail["trials"]]
    assert sorted(params) == [[("optim.lr", "0.0001")], [("optim.lr", "0.001")]]


SWEEP_ARGS = [*SWEEP, "train.sample_every=null", "logger=wandb"]  # test_adaptive.py's sweep, on W&B


@pytest.mark.slow
def test_an_adaptive_sweep_leaves_its_rung_plot_tagged_runs_and_a_dashboard_readable_study(tmp_path: Path):
    sweep = tmp_path / "sweep"
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="offline", PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "gansweep", "-m", *SWEEP_ARGS, f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    address = f"sqlite:///{sweep / 'optuna.db'}"
    study = optuna.load_study(study_name="sweep", storage=address)
    summary = json.loads((sweep / SUMMARY).read_text())
    assert summary["rungs"] == [10, 30] and summary["budget"] == 90 and summary["pruner"]["name"] == "asha"
    assert len(summary["per_trial"]) == len(study.trials) == 8
    joined = []  # trials that took a freed slot of a running group (refill): theirs too
    for trial, entry in zip(study.trials, summary["per_trial"], strict=True):  # what the trials reported, all of it
        assert entry["number"] == trial.number and entry["state"] == trial.state.name.lower()
        assert entry["intermediate"] == [[s, v] for s, v in sorted(trial.intermediate_values.items())]
        record = json.loads((sweep / entry["folder"] / "metrics.json").read_text())
        assert entry["status"] == record["status"] and entry["spent"] == record["g_iters"]
        if record["status"] == "pruned":
            assert entry["intermediate"][-1][0] == record["pruned_at"]
        (run,) = offline_runs(sweep / entry["folder"] / "wandb")  # its W&B run: the study and the final status
        assert {"study=sweep", f"status={record['status']}"} <= set(final_tags(run))
        if record.get("joined_at"):  # its own job log, as a fused member has: the group's log from its joining on
            joined.append(trial.number)
            (job_log,) = [path for path in (sweep / entry["folder"]).glob("*.log") if path.name != "console.log"]
            assert f"trial #{trial.number} joins a running fused group" in job_log.read_text()
    assert joined, "no trial took a freed slot"
    assert summary["best"]["trial"] == study.best_trial.number
    assert summary["best"]["folder"] == str(study.best_trial.number)
    plot = rung_plot_data(summary)
    assert plot is not None and plot.best is not None and plot.best.number == study.best_trial.number
    pruned = [line for line in plot.lines if line.state == "pruned"]
    assert pruned and all(line.stopped_at is not None and line.stopped_at < 90 for line in pruned)
    report = (sweep / "report.md").read_text()
    assert f"![rungs]({RUNGS_PNG})" in report and (sweep / RUNGS_PNG).is_file()
    assert f"[`{study.best_trial.number}/config.yaml`]" in report
    assert not math.isnan(summary["spent"]) and f"Generator iterations spent: {summary['spent']:,}" in report

    from optuna_dashboard import wsgi

    app = wsgi(address)  # the sweep's storage, as `optuna-dashboard sqlite:///.../optuna.db` reads it
    (listed,) = dashboard_get(app, "/api/studies")["study_summaries"]
    detail = dashboard_get(app, f"/api/studies/{listed['study_id']}")
    assert detail["name"] == "sweep" and len(detail["trials"]) == 8
    assert {t["state"] for t in detail["trials"]} <= {"Complete", "Pruned"}
