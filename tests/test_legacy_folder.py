"""A sweep folder written before the one run path (tests/fixtures/legacy_sweep, made by commit 4a0b101 with
`gansweep -m seed=0,1 ... +callbacks.stop._target_=tests.helpers.StopAt ...`: seed 0 finished, seed 1 stopped by
SIGTERM after generator iteration 3 of 6 with its checkpoint) resumes and reports today: the interrupted point
continues from its checkpoint and ends bit for bit where today's uninterrupted run of it ends, the finished point is
left untouched, and its recorded numbers are the ones today's code computes for it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gansweep.record import load_checkpoint, read_record
from gansweep.run.task import train
from tests.conftest import REPO, cli_env, compose_config
from tests.helpers import csv_rows

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_sweep"


def saved_overrides() -> list:
    """The sweep's command-line overrides, as multirun.yaml keeps them (seed=0,1 first)."""
    return list(OmegaConf.load(FIXTURE / "multirun.yaml").hydra.overrides.task)


def today(seed: int, out_dir: Path) -> dict:
    """The same point trained today from scratch, without the callback that stopped it (it only sends a signal)."""
    overrides = [o for o in saved_overrides()[1:] if not o.startswith("+callbacks.stop")]
    out_dir.mkdir()
    train(compose_config([f"seed={seed}", *overrides], out_dir=out_dir, multirun=True))
    return read_record(out_dir) or {}


def test_a_legacy_sweep_folder_resumes_and_reports(tmp_path):
    sweep = tmp_path / "legacy_sweep"
    shutil.copytree(FIXTURE, sweep)
    finished_before = (sweep / "0" / "metrics.json").read_text()
    env = {**cli_env(), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # the fixture's stop callback is in tests/
    script = Path(sys.executable).with_name("gansweep-resume")
    proc = subprocess.run([str(script), str(sweep)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / "0" / "metrics.json").read_text() == finished_before  # skipped, untouched
    resumed = read_record(sweep / "1") or {}
    assert (resumed["status"], resumed["g_iters"], resumed["resumed_from"]) == ("ok", 6, 3)
    assert "2 points: 2 ok, 0 diverged, 0 failed, 0 interrupted, 0 pending." in (sweep / "report.md").read_text()

    alone = today(1, tmp_path / "today1")
    assert resumed["metrics"] == alone["metrics"]
    ours, theirs = (
        load_checkpoint(sweep / "1" / "checkpoints" / "last.ckpt"),
        load_checkpoint(tmp_path / "today1" / "checkpoints" / "last.ckpt"),
    )
    assert ours is not None and theirs is not None and ours["state_dict"].keys() == theirs["state_dict"].keys()
    assert all(torch.equal(ours["state_dict"][k], theirs["state_dict"][k]) for k in theirs["state_dict"])
    rows = csv_rows(sweep / "1" / "logs" / "metrics.csv")
    assert [int(r["step"]) for r in rows if r["train/critic"]] == list(range(1, 7))  # each once, the legacy rows kept

    finished = json.loads(finished_before)
    assert today(0, tmp_path / "today0")["metrics"] == finished["metrics"]  # the same numbers as before the change
