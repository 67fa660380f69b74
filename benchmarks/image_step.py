"""Generator iterations per second on images: gansweep (GANModule under Lightning, the real datamodule and
callbacks) vs a plain-PyTorch WGAN-GP loop of the same DCGAN-32 networks, in this process.

On CUDA the plain loop runs twice: naive fp32, and with the precision settings gansweep uses by default
(TF32 + channels-last); the ratios against both are printed.
    python benchmarks/image_step.py [--iters 20] [--batch 64] [--rounds 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from functools import partial
from typing import Optional

import torch
from timing import InMemory, interleaved, timed_fit  # benchmarks/timing.py, beside this script
from torch import Tensor

from gansweep.constraints.gradient_penalty import GradientPenalty
from gansweep.losses.wgan import WGANLoss
from gansweep.model.points import GANPoint
from gansweep.models.dcgan import build_dcgan

SHAPE = (3, 32, 32)
ADAM = partial(torch.optim.Adam, lr=1e-4, betas=(0.5, 0.9))  # gan_cifar.py WGAN-GP


def set_precision(device: str, fast: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = fast and device == "cuda"
    torch.backends.cudnn.allow_tf32 = fast and device == "cuda"


def plain_loop(
    images: Tensor, iters: int, batch: int, n_critic: int, device: str, fast: bool, dim: Optional[int] = None
) -> float:
    """WGAN-GP written directly in PyTorch: data on the device, no host synchronisation inside the loop."""
    torch.manual_seed(0)
    set_precision(device, fast)
    memory_format = torch.channels_last if fast and device == "cuda" else torch.contiguous_format
    nets = build_dcgan(SHAPE, dim=dim)
    g = nets.generator.to(device, memory_format=memory_format)
    d = nets.critic.to(device, memory_format=memory_format)
    opt_g, opt_d = ADAM(g.parameters()), ADAM(d.parameters())
    data = images.to(device).contiguous(memory_format=memory_format)
    z_dim = nets.z_dim
    start = time.perf_counter()
    for _ in range(iters):
        for _ in range(n_critic):
            real = data[torch.randint(len(data), (batch,), device=device)].float().div_(127.5).sub_(1.0)
            with torch.no_grad():
                fake = g(torch.randn(batch, z_dim, device=device))
            scores = d(torch.cat([real, fake]))
            eps = torch.rand(batch, 1, 1, 1, device=device)
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
            penalty = 10.0 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss = scores[batch:].mean() - scores[:batch].mean() + penalty
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        d.requires_grad_(False)
        g_loss = -d(g(torch.randn(batch, z_dim, device=device))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
    torch.isfinite(loss + g_loss).item()  # waits for the device once, at the end
    return iters / (time.perf_counter() - start)


def gansweep_loop(
    images: Tensor, iters: int, batch: int, n_critic: int, device: str, dim: Optional[int] = None
) -> float:
    """The same training through gansweep, with its default device settings (TF32/channels-last on CUDA)."""
    torch.manual_seed(0)
    point = GANPoint(build_dcgan(SHAPE, dim=dim), [GradientPenalty(10.0)], (ADAM, ADAM))
    return timed_fit([(InMemory(images), point)], WGANLoss(), iters, batch, n_critic, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=None, help="DCGAN width (default: the paper's, 128)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    images = torch.randint(0, 256, (args.images, *SHAPE), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    shape = (args.iters, args.batch, args.n_critic, args.device)
    plain_loop(images, 2, *shape[1:], fast=True, dim=args.dim)  # warm-up (allocator, kernels)
    runs = {"plain PyTorch fp32": partial(plain_loop, images, *shape, fast=False, dim=args.dim)}
    if args.device == "cuda":
        runs["plain PyTorch TF32 + channels-last"] = partial(plain_loop, images, *shape, fast=True, dim=args.dim)
    runs["gansweep"] = partial(gansweep_loop, images, *shape, dim=args.dim)
    rates = interleaved(runs, args.rounds)  # the runs take turns: load that changes hits each alike
    ours = rates.pop("gansweep")
    plains = rates
    print(
        f"WGAN-GP DCGAN-32 device={args.device} batch={args.batch} n_critic={args.n_critic} iters={args.iters} "
        f"(median of {args.rounds} interleaved rounds)"
    )
    for name, rate in plains.items():
        print(f"{name:36s}: {rate:8.3f} G it/s")
    print(f"{'gansweep (defaults)':36s}: {ours:8.3f} G it/s (Lightning trainer start included)")
    for name, rate in plains.items():
        print(f"ratio gansweep / {name}: {ours / rate:.3f}")


if __name__ == "__main__":
    main()
