"""Offline W&B runs read back with wandb's own reader (`wandb leet inspect --json`, the .wandb transaction log)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

WANDB_CLI = Path(sys.executable).with_name("wandb")


@dataclass
class WandbRun:
    run: Dict[str, Any]  # the run record: display_name, run_group, job_type, tags, config
    history: List[Dict[str, Any]] = field(default_factory=list)  # each logged row (internal _keys dropped)
    summary: Dict[str, Any] = field(default_factory=dict)  # the summary after every update
    exit_code: Optional[int] = None
    files: Path = Path()  # the offline run's files/ folder (media/images/...)

    @property
    def config(self) -> Dict[str, Any]:
        return {k: v for k, v in self.run["config"]["update"].items() if k != "_wandb"}


def offline_runs(wandb_dir: Path) -> List[Path]:
    """The offline-run-* folders under a `wandb` folder, oldest first."""
    return sorted(Path(wandb_dir).glob("offline-run-*"))


def read_run(run_path: Path) -> WandbRun:
    """One offline run folder (offline-run-*) read with `wandb leet inspect --json`."""
    out = subprocess.run(
        [str(WANDB_CLI), "leet", "inspect", "--json", str(run_path)], capture_output=True, text=True, check=True
    )
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    (run,) = [r["run"] for r in records if r["type"] == "run"]
    result = WandbRun(run=run, files=Path(run_path) / "files")
    for record in records:
        if record["type"] == "history":
            result.history.append({k: v for k, v in record["history"]["item"].items() if not k.startswith("_")})
        elif record["type"] == "summary":
            result.summary.update(record["summary"].get("update", {}))
        elif record["type"] == "exit":
            result.exit_code = record["exit"].get("exit_code", 0)
    return result
