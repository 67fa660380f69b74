"""The GPU check (issue 22): gansweep's speed goals measured on one GPU and printed as ONE table, in under 8 minutes
on an H100.

Why: those goals can only be judged on a GPU, which the development machines lack; whoever gets one runs this once
and has every figure. It calls the benchmark scripts beside it, so each row measures what they measure:
  - WGAN-GP DCGAN-32 (conf/arch/dcgan.yaml), batch 64, n_critic 5, random CIFAR-like images on the device:
    a plain fp32 PyTorch loop, a plain TF32 + channels-last one, and gansweep's GANModule under a Lightning Trainer
    (image_step.py), in generator iterations/s;
  - fused DCGAN-32 groups of K = 1 and K = 8 points against the same points trained one after another (fusion.py);
  - one 10,000-sample evaluation (FID, KID, precision/recall) against cached real statistics (eval_step.py), on the
    Inception weights in torch's cache when they are there, else on a randomly initialised Inception-v3 saved in
    the same TorchScript format (the same cost; meaningless values);
  - two DCGAN points sharing the GPU through the launcher (hydra.launcher.jobs_per_gpu=2) against one at a time
    (launcher_overhead.py).
Each row: what, the measured value, the goal, and pass, FAIL or "not measured" with why. On a CPU, or with --tiny
(tiny sizes, any device: tests/test_benchmarks.py runs it on CPU so that it cannot rot), nothing is judged.

    bash benchmarks/gpu_check.sh [--tiny]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Callable, List, Optional, Tuple

import eval_step  # the benchmark scripts beside this one
import fusion
import image_step
import launcher_overhead
import torch
import torch.nn.functional as F
from timing import random_images
from torch import Tensor, nn


@dataclass(frozen=True)
class Sizes:
    images: int  # random training images
    batch: int
    n_critic: int
    dim: Optional[int]  # DCGAN width (None: the paper's, 128); fusion.py's points always have the paper's
    iters: int  # generator iterations of each single-point loop
    fused: Tuple[int, ...]  # the fused groups' sizes K
    fusion_iters: int
    fid_samples: int
    fid_real: int
    fid_batch: int
    sweep_iters: int  # generator iterations of each of the launcher's two points


FULL = Sizes(10_000, 64, 5, None, 600, (1, 8), 200, 10_000, 10_000, 250, 300)
TINY = Sizes(32, 4, 2, 8, 2, (1, 2), 1, 40, 40, 20, 1)
NAIVE_GOAL, TUNED_GOAL = 1.4, 0.95  # gansweep's G it/s over the plain fp32 loop's, and over the tuned loop's
FUSED_GOALS = {1: 0.95, 8: 2.5}  # K: unfused seconds over fused seconds
FID_GOAL_S, SHARING_GOAL = 15.0, 1.0  # seconds of one evaluation; one-at-a-time wall time over shared


@dataclass
class Check:
    """The table's rows; `why_not` (no GPU, tiny sizes) replaces every pass or FAIL when set."""

    why_not: Optional[str]
    rows: List[Tuple[str, str, str, str]] = field(default_factory=list)
    errors: int = 0

    def row(self, what: str, value: str, goal: str = "-", ok: Optional[bool] = None, why_not: str = "") -> None:
        verdict = why_not or self.why_not or ("measured" if ok is None else "pass" if ok else "FAIL")
        self.rows.append((what, value, goal, verdict))

    def run(self, title: str, section: Callable[[], None], deadline: float) -> None:
        """One section's rows, or one row saying why it has none (the time budget spent, or its error)."""
        if time.perf_counter() > deadline:
            return self.row(title, "-", why_not="not measured: the time budget was spent")
        begin = time.perf_counter()
        try:
            section()
            print(f"gpu_check: {title} took {time.perf_counter() - begin:.0f} s", file=sys.stderr)
        except (Exception, SystemExit) as err:  # the table still comes out; the exit status says it failed
            traceback.print_exc()
            self.errors += 1
            self.row(title, "-", why_not=f"not measured: {type(err).__name__}: {str(err).strip().splitlines()[0]}")

    def print(self, header: str) -> None:
        table = [("what", "measured", "goal", "result"), *self.rows]
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        print(header)
        for i, r in enumerate(table):
            print("| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) + " |")
            if i == 0:
                print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def steps(check: Check, s: Sizes, device: str, tmp: Path) -> None:
    images = random_images(s.images)
    shape = (s.batch, s.n_critic, device)
    image_step.plain_loop(images, 2, *shape, fast=True, dim=s.dim)  # warm-ups: allocator, kernels, Lightning
    image_step.gansweep_loop(images, 2, *shape, dim=s.dim)
    naive = image_step.plain_loop(images, s.iters, *shape, fast=False, dim=s.dim)
    tuned = image_step.plain_loop(images, s.iters, *shape, fast=True, dim=s.dim)
    ours = image_step.gansweep_loop(images, s.iters, *shape, dim=s.dim)
    case = f"WGAN-GP DCGAN-32, batch {s.batch}, n_critic {s.n_critic}"
    check.row(f"{case}: plain PyTorch fp32", f"{naive:.2f} G it/s")
    check.row(f"{case}: plain PyTorch TF32 + channels-last", f"{tuned:.2f} G it/s")
    check.row(f"{case}: gansweep (GANModule under Lightning, trainer start included)", f"{ours:.2f} G it/s")
    check.row("gansweep / plain fp32", f"{ours / naive:.2f}x", f">= {NAIVE_GOAL}x", ours / naive >= NAIVE_GOAL)
    check.row(
        "gansweep / plain TF32 + channels-last", f"{ours / tuned:.2f}x", f">= {TUNED_GOAL}x", ours / tuned >= TUNED_GOAL
    )


def fused(check: Check, s: Sizes, device: str, tmp: Path) -> None:
    images = random_images(s.images)

    def points(k: int) -> List[fusion.Built]:
        return [fusion.dcgan_point(*fusion.GRID[i % len(fusion.GRID)], images) for i in range(k)]

    fusion.fit(points(1), 1, s.batch, s.n_critic, device)  # warm-up
    for k in s.fused:
        unfused = sum(fusion.fit([p], s.fusion_iters, s.batch, s.n_critic, device) for p in points(k))
        together = fusion.fit(points(k), s.fusion_iters, s.batch, s.n_critic, device)
        goal = FUSED_GOALS.get(k)
        check.row(
            f"fused DCGAN-32, K = {k}, vs the same points unfused",
            f"{unfused / together:.2f}x ({unfused:.1f} s -> {together:.1f} s)",
            f">= {goal}x" if goal else "-",
            None if goal is None else unfused / together >= goal,
        )


class InceptionFormat(nn.Module):
    """The call interface of inception-2015-12-05.pt around any body giving [N, D] features of 299x299 images in
    [-1, 1]: uint8-valued images of any size in, resized inside, `return_features=True` for the features."""

    def __init__(self, body: nn.Module, num_features: int) -> None:
        super().__init__()
        self.body, self.logits = body, nn.Linear(num_features, 1008)

    def forward(
        self, img: Tensor, return_features: bool = False, use_fp16: bool = False, no_output_bias: bool = False
    ) -> Tensor:
        x = F.interpolate(img.to(torch.float32), size=(299, 299), mode="bilinear", align_corners=False)
        features = self.body((x - 128) / 128)
        return features if return_features else self.logits(features)


def inception_file(folder: Path) -> Tuple[Path, str, bool]:
    """The weights file to time with, what it is, and whether it costs what the real network costs."""
    from gansweep.cache import sha256_of
    from gansweep.metrics.inception import FILE_NAME, InceptionWeightsError, resolve_weights

    try:
        path = resolve_weights(None, download=False)
        return path, f"{path.name} from torch's cache (sha256 {sha256_of(path)[:12]})", True
    except InceptionWeightsError:
        pass
    try:
        from torchvision.models import inception_v3

        body: nn.Module = inception_v3(weights=None, aux_logits=False, init_weights=False)
        body.fc = nn.Identity()  # type: ignore[assignment]  # pool_3's 2048 features
        width, what, real = 2048, "random Inception-v3, TorchScript (no weights file)", True
    except Exception:  # torchvision missing, or built for another torch
        body = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        width, what, real = 16, "small random stand-in (no weights, no torchvision)", False
    traced = torch.jit.trace(body.eval(), torch.zeros(1, 3, 299, 299))
    path = folder / FILE_NAME
    torch.jit.save(torch.jit.script(InceptionFormat(traced, width).eval()), str(path))
    return path, what, real


def fid(check: Check, s: Sizes, device: str, tmp: Path) -> None:
    weights, what, real = inception_file(tmp)
    t = eval_step.time_evaluation(
        "inception", str(weights), s.fid_samples, s.fid_real, s.fid_batch, s.dim, torch.device(device), str(tmp)
    )
    check.row(
        f"FID, KID, P/R of {s.fid_samples:,} samples, cached real statistics; {what}",
        f"{t['gansweep_s']:.2f} s (plain FID: {t['plain_s']:.2f} s)",
        f"<= {FID_GOAL_S:.0f} s",
        t["gansweep_s"] <= FID_GOAL_S,
        why_not="" if real else "not measured: no Inception-v3 to time (no weights file, no torchvision)",
    )


def sharing(check: Check, s: Sizes, device: str, tmp: Path) -> None:
    run = ["dataset=stacked_digits", f"dataset.size={s.images}", "arch=dcgan", "metrics=none", "logger=none"]
    run += ["callbacks=none", f"train.iters={s.sweep_iters}", f"train.batch_size={s.batch}"]
    run += [f"train.n_critic={s.n_critic}"] + ([f"arch.dim={s.dim}"] if s.dim else [])
    wall = {}
    for jobs in (1, 2):  # one GPU (simulated on a CPU: the same launcher path), 1 or 2 points at a time on it
        launcher = ["hydra/launcher=gansweep", "hydra.launcher.gpus=1", f"hydra.launcher.jobs_per_gpu={jobs}"]
        wall[jobs] = launcher_overhead.sweep_wall_time(launcher, "in its own process", 2, [], tmp, base=run)
    check.row(
        "2 DCGAN-32 points sharing the GPU (gansweep -m, jobs_per_gpu=2) vs one at a time",
        f"{wall[1] / wall[2]:.2f}x ({wall[1]:.1f} s -> {wall[2]:.1f} s)",
        f">= {SHARING_GOAL}x",
        wall[1] / wall[2] >= SHARING_GOAL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks that the script runs, any device")
    parser.add_argument("--budget", type=float, default=360, help="seconds after which no further section starts")
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    why_not = "not measured on a GPU (ran on cpu)" if device == "cpu" else None
    why_not = why_not or ("not measured: --tiny sizes" if args.tiny else None)
    sizes, check, start = (TINY if args.tiny else FULL), Check(why_not), time.perf_counter()
    with TemporaryDirectory() as tmp:
        for title, section in (("DCGAN-32 steps", steps), ("fusion", fused), ("FID", fid), ("launcher", sharing)):
            check.run(title, partial(section, check, sizes, device, Path(tmp)), start + args.budget)
    check.print(
        f"gansweep GPU check: {name}, torch {torch.__version__}, {'tiny' if args.tiny else 'full'} sizes, "
        f"{time.perf_counter() - start:.0f} s"
    )
    return 1 if check.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
