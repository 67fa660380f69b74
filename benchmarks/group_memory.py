"""Peak memory of one fused group: K stacked-digits DCGAN points (seeds 0..K-1, metrics=digits: the 60,000-image set
and 50,000 real features by default) trained as one model by gansweep's run path (gansweep.run.group.train_group) in
a fresh Python process, twice: with the data tensor, the digit CNN and the real features shared by the group
(gansweep.cache.SHARED), and with a private copy for every point (gansweep.cache.private_copies: as before sharing).
Prints each process's peak RSS (resource.getrusage), its RSS once torch and Lightning are imported, and on a GPU
torch.cuda.max_memory_allocated, side by side. The real features are computed into a temporary metrics cache first
(as gansweep-prepare would), so that both runs read them. --before REV adds a third run: the private one at commit
REV's code (git archive into a temporary folder), the code as it was before sharing.

    python benchmarks/group_memory.py [--points 8] [--iters 1] [--samples 1000] [--before REV] [OVERRIDE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Sequence

MODES = ("shared", "private", "before")  # before: private, at another commit's code (--before REV)


def overrides(args: argparse.Namespace, cache: Path) -> List[str]:
    """The group's common overrides: the issue's case, small enough for a CPU."""
    return [
        "dataset=stacked_digits",
        "arch=dcgan",
        "metrics=digits",
        f"dataset.size={args.size}",
        f"train.iters={args.iters}",
        f"train.batch_size={args.batch}",
        f"metrics.num_samples={args.samples}",
        f"metrics.cache_dir={cache}",
        f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
        "logger=none",
        *args.override,
    ]


def point_config(common: Sequence[str], out_dir: Path, num: int) -> Any:
    """Point `num`'s composed config (hydra node included, its run folder `out_dir`), as the launcher hands it over."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode
    from omegaconf import open_dict

    from gansweep.config import register_schema
    from gansweep.paths import conf_dir
    from gansweep.templates import register_templates

    register_schema()
    register_templates()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[*common, f"seed={num}"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out_dir)
        cfg.hydra.job.num = num
        cfg.hydra.mode = RunMode.MULTIRUN
    return cfg


def rss_mib() -> float:
    """This process's peak resident set so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One measured run in this (fresh) process; prints its numbers as one JSON line."""
    if args.tree:  # another commit's code: its gansweep, conf/ and hydra_plugins/ come first
        sys.path.insert(0, args.tree)
    import pytorch_lightning  # noqa: F401  (imported before the baseline: every run pays for it)
    import torch

    from gansweep.prepare import prepare
    from gansweep.run.group import train_group

    folder, common = Path(args.folder), overrides(args, Path(args.folder) / "metrics-cache")
    if args.child == "prepare":
        prepare(point_config(common, folder / "prepare", 0), args.device)
        return
    imported = rss_mib()
    configs = [point_config(common, folder / args.child / str(k), k) for k in range(args.points)]
    with private_copies() if args.child != "shared" else contextlib.nullcontext():
        train_group(configs)
    statuses = [
        json.loads((folder / args.child / str(k) / "metrics.json").read_text())["status"] for k in range(args.points)
    ]
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    print(json.dumps({"peak_mib": rss_mib(), "imported_mib": imported, "cuda_mib": cuda, "statuses": statuses}))


def private_copies() -> Any:
    """gansweep.cache.private_copies, or nothing to turn off in code from before sharing."""
    try:
        from gansweep.cache import private_copies as off
    except ImportError:
        return contextlib.nullcontext()
    return off()


def run_child(mode: str, args: argparse.Namespace, folder: str, tree: str = "") -> Dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, "--folder", folder, "--tree", tree, *sys.argv[1:]]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"the {mode} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]) if mode != "prepare" else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8, help="K: points of the fused group (seeds 0..K-1)")
    parser.add_argument("--iters", type=int, default=1, help="generator iterations")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1000, help="generated images per evaluation")
    parser.add_argument("--size", type=int, default=60000, help="stacked-digits training images (dataset.size)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--before", default=None, help="also the private run at this commit's code (e.g. HEAD~3)")
    parser.add_argument("override", nargs="*", help="more overrides of every point, e.g. arch.dim=64")
    parser.add_argument("--child", choices=("prepare", *MODES), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default="", help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="group-memory-") as folder:
        run_child("prepare", args, folder)  # the classifier and real features into the run's cache, outside the runs
        results = {mode: run_child(mode, args, folder) for mode in MODES[:2]}
        if args.before:
            results["before"] = run_child("before", args, folder, tree=checkout(args.before, folder))
    report(args, results)


def checkout(rev: str, folder: str) -> str:
    """Commit `rev`'s files (git archive of this repository) in folder/REV, for a run of its code."""
    repo = Path(__file__).resolve().parents[1]
    tree = Path(folder) / "tree"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return str(tree)


def report(args: argparse.Namespace, results: Dict[str, Dict[str, Any]]) -> None:
    """The runs' numbers side by side, and the ratio shared / private."""
    for run in results.values():
        run["above_mib"] = run["peak_mib"] - run["imported_mib"]
    print(
        f"K={args.points} stacked digits (dataset.size={args.size}), arch=dcgan, metrics=digits, "
        f"train.iters={args.iters}, device={args.device}"
    )
    titles = {"shared": "shared (now)", "private": "private copies", "before": f"at {args.before}"}
    print(f"{'':26}" + "".join(f"{titles[mode]:>16}" for mode in results) + f"{'shared/private':>16}")
    rows = [
        ("peak RSS, MiB", "peak_mib"),
        ("RSS after imports, MiB", "imported_mib"),
        ("peak above imports", "above_mib"),
    ]
    if results["shared"]["cuda_mib"] is not None:
        rows.append(("CUDA max allocated, MiB", "cuda_mib"))
    for label, key in rows:
        ratio = results["shared"][key] / results["private"][key]
        print(f"{label:26}" + "".join(f"{run[key]:>16.0f}" for run in results.values()) + f"{ratio:>16.2f}")
    if results["shared"]["cuda_mib"] is None:
        print("CUDA max_memory_allocated: not measured (no GPU in this process)")
    print("statuses: " + "; ".join(f"{mode} {' '.join(run['statuses'])}" for mode, run in results.items()))


if __name__ == "__main__":
    main()
