"""A sweep of thousands of points: how long until its first point starts, how much memory the launcher holds, and how
long `gansweep-resume` takes to reach the first unfinished point of a folder of finished ones.

1. fresh: `gansweep -m seed=range(0,N) debug=smoke ...` into a new folder; the time from the command to the first
   point's process (its console.log), the launcher's peak RSS; then SIGTERM (the point records itself interrupted).
2. the folder is given F finished points (records as the task writes them: composed with the launcher's own
   composer, so their config hashes are the real ones).
3. resume: `gansweep-resume DIR`; the time to the first unfinished point's process, the launcher's peak RSS, and
   how many processes the skipped points got (a point's process leaves its console.log: none is the goal).
    python benchmarks/big_grid.py [--points 2000] [--finished 1950] [--dir /tmp/big_grid]
Goals (issue 20): the first point within 20 s of either command, the launcher under ~500 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

SMOKE = ["debug=smoke", "train.iters=1", "logger=none"]


def watch(cmd: List[str], started: Path, env: dict) -> Tuple[float, float]:
    """Run `cmd` until `started` appears: (seconds to it, the process's peak RSS in MB); then stop it."""
    begin = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while not started.exists():
        peak = max(peak, _peak_rss_mb(proc.pid))
        if proc.poll() is not None:
            raise SystemExit(f"{' '.join(cmd[:3])} ... ended (exit {proc.returncode}) before {started} appeared")
        time.sleep(0.02)
    seconds = time.perf_counter() - begin
    peak = max(peak, _peak_rss_mb(proc.pid))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return seconds, peak


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def fabricate(sweep: Path, overrides: List[str], finished: int) -> float:
    """Write `finished` records as the task writes them for an ok point; returns the seconds it took."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.plugins import Plugins
    from hydra.types import RunMode
    from omegaconf import open_dict

    from gansweep.config import register_schema
    from gansweep.grid import read_grid
    from gansweep.hydra_job import task_config
    from gansweep.launch.compose import PointComposer
    from gansweep.paths import conf_dir
    from gansweep.record import new_record, write_record
    from gansweep.templates import register_templates

    begin = time.perf_counter()
    Plugins.instance()
    register_schema()
    register_templates()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf_dir())))
    master = loader.load_configuration("config", overrides, RunMode.MULTIRUN)
    composer = PointComposer(loader, master)
    grid = read_grid(sweep)  # each job's overrides as the sweeper gave them (a template's params included)
    assert grid is not None
    for num in range(finished):
        config = composer.compose(grid.points[num])
        with open_dict(config):
            config.hydra.job.num = num
        record = new_record(config.hydra, task_config(config))
        record.update(status="ok", g_iters=1, wall_time_s=1.0, metrics={"energy_distance": 0.1})
        (sweep / str(num)).mkdir(parents=True, exist_ok=True)
        write_record(sweep / str(num), record)
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--finished", type=int, default=1950)
    parser.add_argument("--dir", default="/tmp/big_grid")
    args = parser.parse_args()
    sweep = Path(args.dir).absolute()
    shutil.rmtree(sweep, ignore_errors=True)
    env = dict(os.environ, WANDB_MODE="offline", CUDA_VISIBLE_DEVICES="")
    gansweep = str(Path(sys.executable).with_name("gansweep"))
    overrides = [f"seed=range(0,{args.points})", *SMOKE, f"hydra.sweep.dir={sweep}"]

    seconds, rss = watch([gansweep, "-m", *overrides], sweep / "0" / "console.log", env)
    print(f"fresh {args.points}-point grid: first point started after {seconds:.1f} s; launcher peak RSS {rss:.0f} MB")
    made = fabricate(sweep, overrides, args.finished)
    print(f"({args.finished} finished records written in {made:.1f} s)")
    resume = str(Path(sys.executable).with_name("gansweep-resume"))
    seconds, rss = watch([resume, str(sweep)], sweep / str(args.finished) / "console.log", env)
    started = sum((sweep / str(num) / "console.log").exists() for num in range(1, args.finished))
    print(
        f"resume with {args.finished} finished: first unfinished point started after {seconds:.1f} s; launcher peak "
        f"RSS {rss:.0f} MB; processes started for skipped points: {started}"
    )


if __name__ == "__main__":
    main()
