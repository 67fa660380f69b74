"""Which way to fuse K grid points: the toy WGAN-GP step (gan_toy MLPs, hidden 128, batch 256, n_critic 5, GP 0.1)
for K points run one after another, as gansweep's StackedNetwork (each point's own modules, vmap over their stacked
tensors, stock Adam with one parameter group per point), and as one stacked parameter per layer with one Adam
(no per-point hyperparameters: the ceiling). Prints each route's time per generator iteration of all K points and
its ratio to the sequential one, measured in this process, interleaved.

    python benchmarks/fusion_routes.py [--points 1 4 16] [--hidden 128] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Dict, List, Sequence

import torch
from torch import Tensor, nn

from gansweep.model.stack import StackedNetwork

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


def adam(groups: List[nn.Module]) -> torch.optim.Optimizer:
    return torch.optim.Adam([{"params": m.parameters(), "lr": LR} for m in groups], betas=BETAS)


def routes(k: int, hidden: int) -> Dict[str, Callable[[], None]]:
    g_widths, d_widths = [2, hidden, hidden, hidden, 2], [2, hidden, hidden, hidden, 1]
    alone = [(mlp(g_widths), mlp(d_widths)) for _ in range(k)]
    opts = [(adam([g]), adam([d])) for g, d in alone]
    points_g, points_d = [mlp(g_widths) for _ in range(k)], [mlp(d_widths) for _ in range(k)]
    stacked_g, stacked_d = StackedNetwork(points_g), StackedNetwork(points_d)
    fused_opts = adam(points_g), adam(points_d)
    ceiling_g, ceiling_d = StackedMLP(g_widths, k), StackedMLP(d_widths, k)
    ceiling_opts = adam([ceiling_g]), adam([ceiling_d])

    def sequential() -> None:
        for (g, d), (og, od) in zip(alone, opts, strict=True):
            wgan_gp_iteration(g, d, og, od, ())

    return {
        "sequential (unfused)": sequential,
        "StackedNetwork + Adam groups": lambda: wgan_gp_iteration(stacked_g, stacked_d, *fused_opts, (k,)),
        "one stacked parameter (ceiling)": lambda: wgan_gp_iteration(ceiling_g, ceiling_d, *ceiling_opts, (k,)),
    }


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
    base = statistics.median(times["sequential (unfused)"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"K={k:<3d} {name:34s} {median * 1000:9.1f} ms / iteration of all points   {base / median:5.2f}x")


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
