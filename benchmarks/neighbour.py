"""Throughput beside busy neighbours: solo, beside one and beside two CPU-bound loops (`python -c "while True: pass"`),
under torch's default threads (old: GANSWEEP_THREADS=torch) and gansweep's policy (new: gansweep/threads.py),
interleaved in one run; every measurement is a fresh process (libgomp reads its wait policy when torch loads).

Two workloads: the toy step (benchmarks/toy_step.py's gansweep loop, Lightning trainer start included) and one
quickstart point from the shell (`gansweep experiment=wgan_gp train.iters=N`: G iterations / the record's
wall_time_s). Prints the median of each cell, its ratio to the same policy alone, and new/old.
    python benchmarks/neighbour.py [--rounds 3] [--iters 100] [--point-iters 300] [--neighbours 0,1,2] [--no-point]
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
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
POLICIES = {"old": {"GANSWEEP_THREADS": "torch"}, "new": {}}
USER_KEYS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GANSWEEP_THREADS")


def toy_worker(iters: int, hidden: int, batch: int) -> None:
    """In the measured process: the policy applied as the CLI applies it, then the toy step; prints G it/s."""
    sys.path.insert(0, str(HERE))
    from gansweep import threads

    threads.prepare_environment()  # before torch loads, as gansweep.cli does
    import logging
    import warnings

    import toy_step

    threads.apply()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    toy_step.plain_loop(10, hidden, batch, 5, "cpu")  # warm-up (allocator, kernels)
    rate = toy_step.gansweep_loop(iters, hidden, batch, 5, "cpu")
    print(f"{toy_step.torch.get_num_threads()} {os.environ.get('OMP_WAIT_POLICY')} {rate}")


def policy_env(policy: str) -> Dict[str, str]:
    """This environment less any thread setting of the user's, plus the policy's switch."""
    env = {k: v for k, v in os.environ.items() if k not in USER_KEYS}
    return {**env, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", **POLICIES[policy]}


def measure_toy(policy: str, args: argparse.Namespace) -> Tuple[float, str]:
    """G it/s, and the threads and wait policy the process ran with."""
    cmd = [sys.executable, __file__, "--worker", "--iters", str(args.iters), "--hidden", str(args.hidden)]
    out = subprocess.run(cmd + ["--batch", str(args.batch)], env=policy_env(policy), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    threads, wait, rate = out.stdout.split()[-3:]
    return float(rate), f"{threads} thread(s), OMP_WAIT_POLICY={wait}"


def measure_point(policy: str, args: argparse.Namespace) -> Tuple[float, str]:
    """G it/s: G iterations over the record's wall_time_s (training and its final evaluation)."""
    gansweep = Path(sys.executable).with_name("gansweep")
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"train.iters={args.point_iters}", "logger=none", f"hydra.run.dir={tmp}/run"]
        cmd = [str(gansweep), "experiment=wgan_gp", *overrides]
        out = subprocess.run(cmd, env=policy_env(policy), capture_output=True, text=True, cwd=tmp)
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        record = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
    return record["g_iters"] / record["wall_time_s"], ""


def load() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared: say how busy it was)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=100, help="toy step: generator iterations")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--point-iters", type=int, default=300, help="quickstart point: train.iters")
    parser.add_argument("--neighbours", default="0,1,2", help="busy loops beside the measured process")
    parser.add_argument("--no-point", action="store_true", help="the toy step only")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return toy_worker(args.iters, args.hidden, args.batch)
    counts = [int(n) for n in args.neighbours.split(",")]
    workloads = {"toy step": measure_toy, **({} if args.no_point else {"quickstart point": measure_point})}
    print(f"cores {os.cpu_count()}, load average at start {load()}", flush=True)
    results: Dict[Tuple[str, str, int], List[float]] = {}
    for r in range(args.rounds):
        for n in counts:
            busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
            try:
                time.sleep(0.5)
                for name, measure in workloads.items():
                    for policy in ("old", "new") if r % 2 == 0 else ("new", "old"):  # alternate who goes first
                        value, how = measure(policy, args)
                        results.setdefault((name, policy, n), []).append(value)
                        print(f"round {r} neighbours {n} {name} {policy}: {value:.2f} G it/s {how}", flush=True)
            finally:
                for proc in busy:
                    proc.kill()
                    proc.wait()
    print(f"load average at end {load()}")
    print(f"\nmedian G it/s of {args.rounds} interleaved rounds (ratio: to the same policy with no neighbour)")
    print(f"| workload | policy | {' | '.join(f'{n} busy' for n in counts)} |")
    print(f"|---|---|{'---|' * len(counts)}")
    for name in workloads:
        medians = {}
        for policy in ("old", "new"):
            medians[policy] = [statistics.median(results[name, policy, n]) for n in counts]
            solo = medians[policy][0]
            cells = [f"{m:.2f} ({m / solo:.0%})" for m in medians[policy]]
            print(f"| {name} | {policy} | {' | '.join(cells)} |")
        ratios = [f"{new / old:.2f}x" for new, old in zip(medians["new"], medians["old"], strict=True)]
        print(f"| {name} | new/old | {' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
