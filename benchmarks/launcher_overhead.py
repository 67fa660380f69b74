"""Per-point cost of gansweep's launcher (a warm-started process per point) vs Hydra's basic launcher (in-process).

Both run the same sweep of tiny points (train.iters=1, no logger, no callbacks) from the same command, so what
differs is the launching; the script prints both wall times, the per-point overhead and the ratio.
    python benchmarks/launcher_overhead.py [--points 16] [--repeat 1] [--workers 1] [EXTRA_OVERRIDE ...]
On a machine shared with other work, OMP_NUM_THREADS=1 keeps torch's thread contention out of the comparison.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Sequence

TINY = ["train.iters=1", "arch.hidden=16", "train.batch_size=32", "logger=none", "callbacks=none"]


def gansweep_command() -> List[str]:
    script = Path(sys.executable).with_name("gansweep")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gansweep"]


def sweep_wall_time(
    launcher: List[str], marker: str, points: int, extra: List[str], workdir: Path, base: Sequence[str] = TINY
) -> float:
    """Wall time of one whole `gansweep -m` command (start-up, every point, the table) of `points` seeds of the run
    `base` + `extra`; `marker` proves the launcher."""
    sweep_dir = Path(tempfile.mkdtemp(prefix="sweep-", dir=workdir))
    seeds = "seed=" + ",".join(str(s) for s in range(points))
    args = ["-m", seeds, *base, *extra, *launcher, f"hydra.sweep.dir={sweep_dir}"]
    env = dict(os.environ, WANDB_MODE="disabled", PYTHONWARNINGS="ignore")
    start = time.perf_counter()
    proc = subprocess.run(gansweep_command() + args, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or marker not in proc.stdout:
        sys.exit(
            f"gansweep {' '.join(args)} failed or missed {marker!r}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    statuses = [p.read_text() for p in sweep_dir.glob("*/metrics.json")]
    if len(statuses) != points or not all('"status": "ok"' in s for s in statuses):
        sys.exit(f"expected {points} ok points in {sweep_dir}, found {len(statuses)}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="alternate the two launchers; keep each one's best")
    parser.add_argument("--workers", type=int, default=1, help="gansweep's hydra.launcher.workers (basic: always 1)")
    parser.add_argument("extra", nargs="*", help="more overrides for both sweeps, e.g. trainer.accelerator=cpu")
    args = parser.parse_args()
    ours = ["hydra/launcher=gansweep", f"hydra.launcher.workers={args.workers}"]
    basic: List[float] = []
    gansweep: List[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            basic.append(sweep_wall_time(["hydra/launcher=basic"], "jobs locally", args.points, args.extra, Path(tmp)))
            gansweep.append(sweep_wall_time(ours, "in its own process", args.points, args.extra, Path(tmp)))
    b, g = min(basic), min(gansweep)
    print(f"{args.points} points of {' '.join(TINY + args.extra)}, best of {args.repeat}")
    print(f"basic launcher (in-process)         : {b:7.2f} s  {' '.join(f'{t:.2f}' for t in basic)}")
    print(f"gansweep launcher (workers={args.workers}) : {g:7.2f} s  {' '.join(f'{t:.2f}' for t in gansweep)}")
    print(f"per-point overhead: {(g - b) / args.points:+.3f} s")
    print(f"ratio gansweep/basic: {g / b:.3f}")


if __name__ == "__main__":
    main()
