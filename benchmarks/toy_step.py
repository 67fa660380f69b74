"""Generator iterations per second: gansweep's GANModule under Lightning vs a plain-PyTorch WGAN-GP loop.

Both run in this process on the same networks, data, batch size and n_critic, taking turns (--rounds); the script
prints their median rates and the ratio.
    python benchmarks/toy_step.py [--iters 300] [--hidden 128] [--rounds 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from functools import partial

import torch
from timing import interleaved, timed_fit  # benchmarks/timing.py, beside this script

from gansweep.constraints.gradient_penalty import GradientPenalty
from gansweep.data.toy import ToyDataModule
from gansweep.losses.wgan import WGANLoss
from gansweep.model.points import GANPoint
from gansweep.models.mlp import build_mlp

ADAM = partial(torch.optim.Adam, lr=1e-4, betas=(0.0, 0.9))  # WGAN-GP defaults, as in plain_loop


def plain_loop(iters: int, hidden: int, batch: int, n_critic: int, device: str) -> float:
    """The reference: WGAN-GP written directly in PyTorch, real data drawn the same way."""
    torch.manual_seed(0)
    nets = build_mlp((2,), hidden=hidden)
    g, d = nets.generator.to(device), nets.critic.to(device)
    opt_g = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), 1e-4, betas=(0.0, 0.9))
    dm = ToyDataModule("ring8")
    dm.configure_batches(batch, n_critic, iters)
    start = time.perf_counter()
    for reals in dm.train_dataloader():
        reals = reals.to(device)
        for real in reals:
            with torch.no_grad():
                fake = g(torch.randn(batch, 2, device=device))
            scores = d(torch.cat([real, fake]))
            eps = torch.rand(batch, 1, device=device)
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
            loss = scores[batch:].mean() - scores[:batch].mean() + 0.1 * ((grad.norm(dim=1) - 1) ** 2).mean()
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        d.requires_grad_(False)
        g_loss = -d(g(torch.randn(batch, 2, device=device))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
    torch.isfinite(loss + g_loss).item()  # waits for the device once (gansweep reads its flag every 50 iterations)
    return iters / (time.perf_counter() - start)


def gansweep_loop(iters: int, hidden: int, batch: int, n_critic: int, device: str) -> float:
    torch.manual_seed(0)
    point = GANPoint(build_mlp((2,), hidden=hidden), [GradientPenalty(0.1)], (ADAM, ADAM))
    return timed_fit([(ToyDataModule("ring8"), point)], WGANLoss(), iters, batch, n_critic, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    shape = (args.iters, args.hidden, args.batch, args.n_critic, args.device)
    plain_loop(20, *shape[1:])  # warm-up (allocator, kernels)
    rates = interleaved({"plain": partial(plain_loop, *shape), "gansweep": partial(gansweep_loop, *shape)}, args.rounds)
    plain, ours = rates["plain"], rates["gansweep"]
    print(
        f"device={args.device} hidden={args.hidden} batch={args.batch} n_critic={args.n_critic} iters={args.iters} "
        f"threads={torch.get_num_threads()} (median of {args.rounds} interleaved rounds)"
    )
    print(f"plain PyTorch : {plain:8.1f} G it/s")
    print(f"gansweep      : {ours:8.1f} G it/s (Lightning trainer start included)")
    print(f"ratio gansweep/plain: {ours / plain:.3f}")


if __name__ == "__main__":
    main()
