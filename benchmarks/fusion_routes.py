"""Which way to fuse K grid points: the toy WGAN-GP step (gan_toy MLPs, hidden 128, batch 256, n_critic 5, GP 0.1)
for K points run one after another; as gansweep's route (gansweep.model.stacked: one stacked tensor per parameter,
each point's module a view of its slice, vmap over the stacked tensors, and the points' Adam with one parameter
group per point updated in one pass with per-point hyperparameters, gansweep.model.stacked_optim); as the former
route (gansweep.model.pointwise: each point's tensors gathered at every call, stock Adam stepping K groups); and as
one stacked parameter per layer through batched matmuls with one stock Adam (no per-point hyperparameters: the
ceiling). Prints each route's time per generator iteration of all K points and its ratio to the sequential one, and
gansweep's route against the ceiling, measured in this process, interleaved.

    python benchmarks/fusion_routes.py [--points 1 4 16] [--hidden 128] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from typing import Callable, Dict, List, Sequence

import torch
from torch import Tensor, nn

from gansweep.model.pointwise import PointwiseNetwork
from gansweep.model.stacked import StackedNetwork
from gansweep.models.mlp import build_mlp

GANSWEEP, FORMER = "gansweep: stacked + one Adam pass", "former: pointwise + Adam groups"
CEILING = "one stacked parameter (ceiling)"
BATCH, N_CRITIC, GP_WEIGHT, LR, BETAS = 256, 5, 0.1, 1e-4, (0.5, 0.9)


def mlp(widths: Sequence[int]) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


class StackedMLP(nn.Module):
    """One [K, out, in] parameter per layer: what a fused optimizer with per-point hyperparameter tensors updates."""

    def __init__(self, widths: Sequence[int], k: int) -> None:
        super().__init__()
        pairs = list(zip(widths[:-1], widths[1:], strict=True))
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(k, b, a) / a**0.5) for a, b in pairs])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(k, 1, b)) for _, b in pairs])

    def forward(self, x: Tensor) -> Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w.transpose(1, 2))
            x = torch.relu(x) if i < len(self.weights) - 1 else x
        return x


def wgan_gp_iteration(generator: nn.Module, critic: nn.Module, opt_g: torch.optim.Optimizer,
                      opt_d: torch.optim.Optimizer, lead: Sequence[int]) -> None:  # fmt: skip
    """n_critic critic steps with the two-sided gradient penalty, then one generator step; losses reduce over the
    sample dim only, one per point, summed for the backward."""
    for _ in range(N_CRITIC):
        real, z = torch.randn(*lead, BATCH, 2), torch.randn(*lead, BATCH, 2)
        with torch.no_grad():
            fake = generator(z)
        eps = torch.rand(*lead, BATCH, 1)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
        penalty = ((grad.norm(dim=-1) - 1) ** 2).mean(-1)
        loss = critic(fake).mean((-2, -1)) - critic(real).mean((-2, -1)) + GP_WEIGHT * penalty
        opt_d.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt_d.step()
    critic.requires_grad_(False)
    loss_g = -critic(generator(torch.randn(*lead, BATCH, 2))).mean((-2, -1))
    opt_g.zero_grad(set_to_none=True)
    loss_g.sum().backward()
    opt_g.step()
    critic.requires_grad_(True)


def adam(groups: Sequence[nn.Module]) -> torch.optim.Optimizer:
    return torch.optim.Adam([{"params": m.parameters(), "lr": LR} for m in groups], betas=BETAS)


def routes(k: int, hidden: int) -> Dict[str, Callable[[], None]]:
    g_widths, d_widths = [2, hidden, hidden, hidden, 2], [2, hidden, hidden, hidden, 1]
    alone = [(mlp(g_widths), mlp(d_widths)) for _ in range(k)]
    opts = [(adam([g]), adam([d])) for g, d in alone]
    points_g, points_d = [mlp(g_widths) for _ in range(k)], [mlp(d_widths) for _ in range(k)]
    pointwise_g, pointwise_d = PointwiseNetwork(points_g), PointwiseNetwork(points_d)
    pointwise_opts = adam(points_g), adam(points_d)
    routes: Dict[str, Callable[[], None]] = {"sequential (unfused)": lambda: sequential()}
    if k > 1:
        mlps = [build_mlp((2,), hidden=hidden, depth=3) for _ in range(k)]  # gansweep's own: the same layers
        views_g, views_d = [m.generator for m in mlps], [m.critic for m in mlps]
        stacked_g, stacked_d = StackedNetwork(views_g), StackedNetwork(views_d)
        every = lambda: range(k)  # noqa: E731
        gansweep_opts = (
            stacked_g.fused_optimizer(adam(views_g), every),
            stacked_d.fused_optimizer(adam(views_d), every),
        )
        routes[GANSWEEP] = partial(wgan_gp_iteration, stacked_g, stacked_d, *gansweep_opts, (k,))
    routes[FORMER] = partial(wgan_gp_iteration, pointwise_g, pointwise_d, *pointwise_opts, (k,))
    ceiling_g, ceiling_d = StackedMLP(g_widths, k), StackedMLP(d_widths, k)
    ceiling_opts = adam([ceiling_g]), adam([ceiling_d])

    def sequential() -> None:
        for (g, d), (og, od) in zip(alone, opts, strict=True):
            wgan_gp_iteration(g, d, og, od, ())

    routes[CEILING] = lambda: wgan_gp_iteration(ceiling_g, ceiling_d, *ceiling_opts, (k,))
    return routes


def measure(k: int, hidden: int, rounds: int, iters: int = 3) -> None:
    runs = routes(k, hidden)
    for run in runs.values():  # warm-up
        run()
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for _ in range(rounds):  # interleaved: load changes hit every route alike
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(iters):
                run()
            times[name].append((time.perf_counter() - start) / iters)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    base = medians["sequential (unfused)"]
    for name, median in medians.items():
        print(f"K={k:<3d} {name:36s} {median * 1000:9.1f} ms / iteration of all points   {base / median:5.2f}x")
    if GANSWEEP in medians:
        share = medians[CEILING] / medians[GANSWEEP]
        print(f"K={k:<3d} gansweep's route at {share:.2f} of the ceiling's speed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, hidden {args.hidden}, batch {BATCH}")
    for k in args.points:
        measure(k, args.hidden, args.rounds)


if __name__ == "__main__":
    main()
