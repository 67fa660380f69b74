"""Fused vs unfused grid points, through gansweep itself: K points of a toy WGAN-GP grid (gan_toy MLPs, hidden 128,
batch 256, n_critic 5; lr x lambda x seed) trained as one GANModule, against the same K points trained one after
another in this process (each its own GANModule and Lightning fit). Prints, for each K, the wall time of both and
their ratio, measured interleaved in this process. With --arch dcgan: DCGAN-32 at batch 64 (a GPU's case).

    python benchmarks/fusion.py [--points 1 4 16] [--iters 100] [--hidden 128] [--rounds 2] [--device cpu|cuda]
    python benchmarks/fusion.py --arch dcgan --points 1 8 --device cuda
    python benchmarks/fusion.py --cli gp_lr_grid quickstart --cli-iters 300   # whole sweeps: fuse=N vs unfused

The --cli form runs `gansweep -m +sweep=NAME` twice per template (hydra.launcher.fuse=1 and =64) in fresh sweep
folders and prints both wall times: what a user waits for, process start and evaluation included.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import torch
from timing import InMemory, timed_fit  # benchmarks/timing.py, beside this script

from gansweep.constraints.gradient_penalty import GradientPenalty
from gansweep.data.toy import ToyDataModule
from gansweep.losses.wgan import WGANLoss
from gansweep.model.points import GANPoint
from gansweep.models.dcgan import build_dcgan
from gansweep.models.mlp import build_mlp

GRID = list(product((1e-4, 2e-4, 5e-4, 1e-3), (0.1, 1.0), (0, 1)))  # lr x lambda x seed: 16 points
Built = Tuple[Any, GANPoint]


def toy_point(lr: float, weight: float, seed: int, hidden: int) -> Built:
    torch.manual_seed(seed)
    adam = partial(torch.optim.Adam, lr=lr, betas=(0.5, 0.9))
    return ToyDataModule("ring8", seed=seed), GANPoint(
        build_mlp((2,), hidden=hidden), [GradientPenalty(weight)], (adam, adam), seed=seed
    )


def dcgan_point(lr: float, weight: float, seed: int, images: torch.Tensor) -> Built:
    torch.manual_seed(seed)
    adam = partial(torch.optim.Adam, lr=lr, betas=(0.5, 0.9))
    data = InMemory(images, seed=seed)
    return data, GANPoint(build_dcgan((3, 32, 32)), [GradientPenalty(weight * 10)], (adam, adam), seed=seed)


def fit(points: Sequence[Built], iters: int, batch: int, n_critic: int, device: str) -> float:
    """Seconds to train `points` as one fused model (one point: an ordinary run), trainer start included."""
    return iters / timed_fit(points, WGANLoss(), iters, batch, n_critic, device)


def measure(args: argparse.Namespace) -> None:
    images = torch.randint(0, 256, (2048, 3, 32, 32), dtype=torch.uint8) if args.arch == "dcgan" else None
    batch = args.batch or (64 if args.arch == "dcgan" else 256)

    def build(k: int) -> List[Built]:
        if images is not None:
            return [dcgan_point(*GRID[i % len(GRID)], images) for i in range(k)]
        return [toy_point(*GRID[i % len(GRID)], args.hidden) for i in range(k)]

    fit(build(1), 5, batch, args.n_critic, args.device)  # warm-up: allocator, kernels, Lightning's imports
    print(
        f"{args.arch} device={args.device} batch={batch} n_critic={args.n_critic} iters={args.iters} "
        f"threads={torch.get_num_threads()} (median of {args.rounds} interleaved rounds)"
    )
    print(f"{'K':>3} {'unfused s':>10} {'fused s':>9} {'fused speed-up':>15}")
    for k in args.points:
        unfused, fused = [], []
        for _ in range(args.rounds):
            unfused.append(sum(fit([point], args.iters, batch, args.n_critic, args.device) for point in build(k)))
            fused.append(fit(build(k), args.iters, batch, args.n_critic, args.device))
        u, f = statistics.median(unfused), statistics.median(fused)
        print(f"{k:>3} {u:>10.2f} {f:>9.2f} {u / f:>14.2f}x")


def cli(templates: Sequence[str], iters: int) -> None:
    """Whole sweeps through the CLI, unfused then fused, each in a fresh folder."""
    gansweep = str(Path(sys.executable).with_name("gansweep"))
    print(f"{'template':>12} {'points':>6} {'unfused s':>10} {'fused s':>9} {'speed-up':>9}  (train.iters={iters})")
    for template in templates:
        seconds = []
        for fuse in (1, 64):
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [gansweep, "-m", f"+sweep={template}", f"train.iters={iters}", f"hydra.launcher.fuse={fuse}"]
                cmd += [f"hydra.sweep.dir={tmp}/sweep", "logger=csv"]
                start = time.perf_counter()
                proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
                seconds.append(time.perf_counter() - start)
                if proc.returncode != 0:
                    raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
                points = len(list(Path(tmp, "sweep").glob("*/metrics.json")))
        print(f"{template:>12} {points:>6} {seconds[0]:>10.1f} {seconds[1]:>9.1f} {seconds[0] / seconds[1]:>8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--arch", choices=("toy", "dcgan"), default="toy")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cli", nargs="*", default=None, metavar="TEMPLATE")
    parser.add_argument("--cli-iters", type=int, default=300)
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.cli is not None:
        cli(args.cli or ["gp_lr_grid", "quickstart"], args.cli_iters)
    else:
        measure(args)


if __name__ == "__main__":
    main()
