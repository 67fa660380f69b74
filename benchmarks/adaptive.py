"""Adaptive sweeps against the full grid: a toy WGAN-GP protocol (lr x lambda x seed = 4 x 4 x 3) on 8 Gaussians
(ring8) and on 25 Gaussians (grid25), each trained as the whole grid and as ASHA and Hyperband studies of the same
configs (hydra/sweeper=adaptive; the grid is the same sweeper with pruner=none), each from the shell in its own folder.
For each dataset and each of the three, prints (labelled `[DATASET PRUNER]`) the generator iterations spent as a
fraction of the grid's, whether the best config it found (by its own trials) is within the seed spread of the grid's
best (its median over seeds, from the grid's own runs, inside the min..max over seeds of the grid's best), and how
idle the launcher's slots were (1 - busy process-seconds / (slots x the span of the points)) and how much of the fused
groups' width their trials left empty (pruned members' slots; hydra.sweeper.refill gives them new trials). `--dataset
stacked_digits` runs the same on stacked digits with a narrow DCGAN-32, judged by fid_digits (pass a smaller grid with
--lrs/--lambdas/--seeds to fit a CPU).

    python benchmarks/adaptive.py --quick                  # minutes per dataset on 2 CPU cores (both datasets)
    python benchmarks/adaptive.py --quick --dataset grid25 # one of them
    python benchmarks/adaptive.py --quick --dataset stacked_digits --lrs 1e-4 1e-3 --lambdas 1 10
    python benchmarks/adaptive.py                          # the full protocol (3,000 iterations, every 250)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from gansweep.record import higher_is_better, read_records

LRS, LAMBDAS, SEEDS = ("5e-5", "1e-4", "5e-4", "1e-3"), ("0.1", "1", "10", "100"), ("0", "1", "2")
DATASETS = {"ring8": "8 Gaussians", "grid25": "25 Gaussians", "stacked_digits": "stacked digits, a narrow DCGAN-32"}
TOY = ("ring8", "grid25")  # `both`
HEADLINE = {"stacked_digits": "fid_digits"}  # the metric each dataset is judged by (else energy_distance)
Config = Tuple[str, str]  # (optim.lr, constraint.gp.weight)


def sweep(folder: Path, dataset: str, pruner: str, args: argparse.Namespace) -> float:
    """Runs one sweep of the grid's configs with `pruner` into `folder`; its wall time in seconds."""
    command = [
        sys.executable, "-m", "gansweep", "-m", "hydra/sweeper=adaptive", f"hydra.sweeper.pruner={pruner}",
        f"dataset={dataset}", f"optim.lr={','.join(args.lrs)}", f"constraint.gp.weight={','.join(args.lambdas)}",
        f"seed={','.join(args.seeds)}", f"train.iters={args.iters}", f"metrics.every={args.every}",
        f"metrics.num_samples={args.samples}", *model(dataset, args), f"train.batch_size={args.batch}",
        f"hydra.sweeper.metric={metric_of(dataset, args)}", "hydra.sweeper.seed=0",
        f"hydra.launcher.workers={args.workers}", f"hydra.launcher.fuse={args.fuse}", f"hydra.sweep.dir={folder}",
        "logger=none", "callbacks=none", f"hydra.sweeper.refill={str(not args.no_refill).lower()}",
    ]  # fmt: skip
    env = dict(os.environ, WANDB_MODE="disabled")
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{dataset} {pruner} sweep failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def model(dataset: str, args: argparse.Namespace) -> List[str]:
    """The networks: the toy MLPs (`--hidden`), or on stacked digits a DCGAN-32 of width `--width` trained on
    `--images` images, whose fid_digits statistics use as many real ones."""
    if dataset == "stacked_digits":
        return [
            "arch=dcgan",
            f"arch.dim={args.width}",
            f"dataset.size={args.images}",
            f"metrics.num_real={args.images}",
        ]
    return [f"arch.hidden={args.hidden}"]


def metric_of(dataset: str, args: argparse.Namespace) -> str:
    return args.metric or HEADLINE.get(dataset, "energy_distance")


def finals(folder: Path, metric: str) -> Dict[Config, List[float]]:
    """The ok points' final metric by config, over their seeds."""
    out: Dict[Config, List[float]] = {}
    for record in read_records(folder):
        values = dict(o.split("=", 1) for o in record.get("overrides", []) if "=" in o)
        value = (record.get("metrics") or {}).get(metric)
        if record.get("status") == "ok" and isinstance(value, (int, float)):
            out.setdefault((values["optim.lr"], values["constraint.gp.weight"]), []).append(float(value))
    return out


def best(by_config: Dict[Config, List[float]], higher: bool) -> Optional[Config]:
    scored = {c: statistics.median(v) for c, v in by_config.items() if v}
    return (max if higher else min)(scored, key=scored.__getitem__) if scored else None


def spent(folder: Path) -> int:
    return sum(int(r.get("g_iters") or 0) for r in read_records(folder))


def idleness(folder: Path, slots: int) -> float:
    """1 - busy process-seconds / (slots x the time from the first point's start to the last one's end), from the
    launcher's jobs.jsonl (a fused group's points share one process: counted once)."""
    jobs = [json.loads(line) for line in (folder / "jobs.jsonl").read_text().splitlines() if line.strip()]
    processes = {(job["pid"], job["start"]): job["end"] - job["start"] for job in jobs}
    span = max(job["end"] for job in jobs) - min(job["start"] for job in jobs)
    return max(0.0, 1.0 - sum(processes.values()) / (slots * span))


def member_idleness(folder: Path, fuse: int) -> float:
    """1 - the generator iterations the trials trained / those their fused groups' slots could have (each group
    process: `fuse` slots for as long as its longest-running slot, a refilled trial counted from the group's iteration
    it joined at, `joined_at`): how much of a fused group's width pruned members left empty."""
    jobs = [json.loads(line) for line in (folder / "jobs.jsonl").read_text().splitlines() if line.strip()]
    groups: Dict[Tuple[int, float], List[Dict]] = {}
    for job in jobs:
        record = json.loads((folder / job["run_dir"] / "metrics.json").read_text())
        groups.setdefault((job["pid"], job["start"]), []).append(record)
    trained = capacity = 0
    for members in groups.values():
        iters = [int(r.get("g_iters") or 0) for r in members]
        trained += sum(iters)
        capacity += fuse * max(int(r.get("joined_at") or 0) + n for r, n in zip(members, iters, strict=True))
    return max(0.0, 1.0 - trained / capacity) if capacity else 0.0


def compare(dataset: str, args: argparse.Namespace, root: Path) -> None:
    metric = metric_of(dataset, args)
    higher = higher_is_better(metric)
    walls = {p: sweep(root / f"{dataset}-{p}", dataset, p, args) for p in ("none", "asha", "hyperband")}
    grid = finals(root / f"{dataset}-none", metric)
    grid_best = best(grid, higher)
    assert grid_best is not None, "no grid point ended ok"
    low, high = min(grid[grid_best]), max(grid[grid_best])
    grid_spent = spent(root / f"{dataset}-none")
    print(f"\n{dataset} ({DATASETS.get(dataset, dataset)}): grid best {grid_best} ({metric} over seeds "
          f"{grid[grid_best]}), slots {args.workers}, fuse {args.fuse}")  # fmt: skip
    for pruner, wall in walls.items():
        folder = root / f"{dataset}-{pruner}"
        found = best(finals(folder, metric), higher)
        median = statistics.median(grid[found]) if found in grid else float("nan")
        within = found is not None and low <= median <= high
        label = f"[{dataset} {'grid' if pruner == 'none' else pruner}]"
        print(f"{label} fraction of grid iterations: {spent(folder) / grid_spent:.3f}")
        print(f"{label} best within seed spread: {'yes' if within else 'no'}")
        print(f"{label}   best found {found}, its grid median {median:.4g}; wall {wall:.0f} s; "
              f"slot idleness {idleness(folder, args.workers):.1%}; "
              f"fused-member idleness {member_idleness(folder, args.fuse):.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 iterations, an evaluation every 50, small nets")
    parser.add_argument(
        "--dataset",
        "--datasets",
        dest="datasets",
        nargs="+",
        choices=[*DATASETS, "both"],
        default=["both"],
        help="ring8 (8 Gaussians), grid25 (25 Gaussians), both (the default), stacked_digits; each its own lines",
    )
    parser.add_argument("--metric", default=None, help="default: energy_distance, fid_digits on stacked digits")
    parser.add_argument("--iters", type=int, default=3000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--width", type=int, default=32, help="stacked digits: the DCGAN's width (arch.dim)")
    parser.add_argument("--images", type=int, default=10000, help="stacked digits: training (and real) images")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fuse", type=int, default=3)
    parser.add_argument("--lrs", nargs="+", default=list(LRS), help="the grid's optim.lr values (protocol: 4)")
    parser.add_argument("--lambdas", nargs="+", default=list(LAMBDAS), help="its gp weights (protocol: 4)")
    parser.add_argument("--seeds", nargs="+", default=list(SEEDS), help="its seeds (protocol: 3)")
    parser.add_argument("--keep", type=Path, default=None, help="leave the sweeps in this folder")
    parser.add_argument("--no-refill", action="store_true", help="hydra.sweeper.refill=false: freed slots stay free")
    args = parser.parse_args()
    args.datasets = list(dict.fromkeys(d for name in args.datasets for d in (TOY if name == "both" else [name])))
    if args.quick:
        args.iters, args.every, args.samples, args.hidden, args.batch = 300, 50, 500, 64, 64
        args.width, args.images = 16, 2000
    root = args.keep or Path(tempfile.mkdtemp(prefix="gansweep-adaptive-"))
    points = len(args.lrs) * len(args.lambdas) * len(args.seeds)
    print(f"{', '.join(args.datasets)}: {points} points each (lr x lambda x seed = {len(args.lrs)} x "
          f"{len(args.lambdas)} x {len(args.seeds)}), {args.iters} generator iterations each, "
          f"evaluated every {args.every}; sweeps in {root}")  # fmt: skip
    for dataset in args.datasets:
        compare(dataset, args, root)


if __name__ == "__main__":
    main()
