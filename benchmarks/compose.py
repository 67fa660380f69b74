"""Points composed per second: Hydra's config_loader.load_sweep_config vs gansweep.launch.compose.PointComposer.

Both compose the same seed x optim.lr grid (default 20 x 10 = 200 points) from the same launching config, as
`gansweep -m seed=... optim.lr=...` does, in interleaved rounds (Hydra, then a fresh PointComposer, whose first
point composes its template with Hydra); the script prints each round and the two rates over all rounds, and the
ratio. On a machine shared with other work, OMP_NUM_THREADS=1 keeps thread contention out of the comparison.
    python benchmarks/compose.py [--seeds 20] [--lrs 10] [--rounds 2] [EXTRA_OVERRIDE ...]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, List

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from omegaconf import DictConfig

from gansweep.config import register_schema
from gansweep.launch.compose import PointComposer
from gansweep.paths import conf_dir
from gansweep.templates import register_templates


def timed(compose: Callable[[List[str]], DictConfig], points: List[List[str]]) -> float:
    start = time.perf_counter()
    for point in points:
        compose(point)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--lrs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more overrides for every point, e.g. loss=bolt")
    args = parser.parse_args()

    Plugins.instance()
    register_schema()
    register_templates()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf_dir())))
    seeds = [str(seed) for seed in range(args.seeds)]
    lrs = [f"{(i + 1) * 1e-5:.0e}" for i in range(args.lrs)]
    sweep = [f"seed={','.join(seeds)}", f"optim.lr={','.join(lrs)}", *args.extra]
    master = loader.load_configuration("config", [*sweep, "hydra.sweep.dir=/tmp/compose-bench"], RunMode.MULTIRUN)
    points = [[f"seed={seed}", f"optim.lr={lr}", *args.extra] for seed in seeds for lr in lrs]
    print(f"{len(points)} points ({args.seeds} seeds x {args.lrs} lrs), {args.rounds} interleaved rounds")

    hydra_s = fast_s = 0.0
    for round_ in range(args.rounds):
        hydra = timed(lambda point: loader.load_sweep_config(master, point), points)
        composer = PointComposer(loader, master)
        fast = timed(composer.compose, points)
        hydra_s, fast_s = hydra_s + hydra, fast_s + fast
        print(
            f"round {round_ + 1}: hydra {len(points) / hydra:7.1f} points/s   "
            f"PointComposer {len(points) / fast:7.1f} points/s   {composer.stats}"
        )
    total = len(points) * args.rounds
    print(f"hydra load_sweep_config: {total / hydra_s:7.1f} points/s ({1000 * hydra_s / total:.1f} ms/point)")
    print(f"PointComposer.compose:   {total / fast_s:7.1f} points/s ({1000 * fast_s / total:.2f} ms/point)")
    print(f"ratio: {hydra_s / fast_s:.1f}x")


if __name__ == "__main__":
    main()
