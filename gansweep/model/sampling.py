"""Each point's samples for evaluations and figures, drawn as its unfused run draws them: its own generator (its EMA
generator when train.ema is set), in eval mode, on noise from its own evaluation stream."""

from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn

from gansweep.model.stack import GANStack
from gansweep.noise import EVALUATION, PointNoise


class Sampler:
    def __init__(self, stack: GANStack) -> None:
        self.stack = stack
        self.noise: List[PointNoise] = [PointNoise([p.seed], False, EVALUATION) for p in stack.points]

    def generator(self, k: int) -> nn.Module:
        """The network point k is evaluated with: its EMA generator when one is kept, else its generator."""
        return self.stack.averages[k].module if self.stack.averages else self.stack.points[k].networks.generator

    def sample(self, k: int, n: int, g_iters: int, device: torch.device, dtype: torch.dtype, batch_size: int) -> Tensor:
        """n samples of point k from its evaluation stream at generator iteration `g_iters` (continued by further
        calls at the same iteration: an evaluation's batches each get fresh noise), in chunks of batch_size."""
        noise = self.noise[k]
        noise.at(g_iters, device, dtype, normal=n * self.stack.z_dim)
        chunks = []
        for i in range(0, n, batch_size):
            z = noise.randn((min(batch_size, n - i), self.stack.z_dim), dtype)
            chunks.append(self.generate(k, z, device, dtype))
        return torch.cat(chunks)

    @torch.no_grad()
    def generate(self, k: int, z: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
        """G_k(z) in eval mode (batch norm uses its running statistics); z [n, z_dim], cast to the model's precision
        (a figure's fixed noise is float32 whatever the precision)."""
        generator = self.generator(k)
        was_training = generator.training
        generator.eval()
        out = generator(z.to(device, dtype))
        generator.train(was_training)
        return out
