"""The update steps of a generator iteration as plain functions (testable without a Trainer): critic step, generator
step, the loss's alternating generator step (Alt-Bures) and the simultaneous step (Bures GAN's). In a group, tensors
lead with the K points ([K, N, ...]); losses return [K] and their sum is backpropagated, so each point gets its own
gradients. A run alone (its noise unfused) computes on [N, ...] with its own networks, as a plain loop does: the same
numbers, without indexing and restoring the point dim at every call (~100 ops per generator iteration).

Each step computes (forward and backward) through `Steps.run`, which may retry it without a point that made it
raise (gansweep.model.isolation), then applies the optimizer step: an error never leaves half a step applied.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from gansweep.losses.base import CriticOutput, GANLoss
from gansweep.model.stack import GANStack
from gansweep.noise import PointNoise

Logs = Dict[str, Tensor]  # name -> [K]


def plain_backward(loss: Tensor, **kwargs: Any) -> None:
    loss.backward(**kwargs)


def direct(compute: Callable[[], Logs]) -> Logs:
    return compute()


@dataclass
class Steps:
    """What the steps of one model share. `backward` is Lightning's manual_backward under a Trainer (precision
    plugins), Tensor.backward otherwise; `run` computes a step (gansweep.model.isolation under a Trainer)."""

    stack: GANStack
    loss: GANLoss
    noise: PointNoise
    generator_batch_size: Optional[int] = None
    dtype: torch.dtype = torch.float32
    backward: Callable[..., None] = plain_backward
    run: Callable[[Callable[[], Logs]], Logs] = field(default=direct)
    unbatched: bool = field(init=False)  # a run alone: no point dim
    generator: nn.Module = field(init=False)  # the networks a step calls: the stack's, or the run's own
    critic: nn.Module = field(init=False)
    sample_dim: int = field(init=False)

    def __post_init__(self) -> None:
        self.unbatched = not self.noise.fused
        networks = self.stack.points[0].networks
        self.generator = networks.generator if self.unbatched else self.stack.generator
        self.critic = networks.critic if self.unbatched else self.stack.critic
        self.sample_dim = 0 if self.unbatched else 1

    def z(self, n: int) -> Tensor:
        """Noise [K, n, z_dim] from each point's training stream ([n, z_dim] for a run alone)."""
        lead = () if self.unbatched else (len(self.noise.keys),)
        return self.noise.randn((*lead, n, self.stack.z_dim), self.dtype)

    def generator_n(self, real: Tensor) -> int:
        return self.generator_batch_size or real.shape[self.sample_dim]

    def critic_output(self, x: Tensor, features: bool = False) -> CriticOutput:
        critic = self.critic
        return CriticOutput(*critic(x, return_features=True)) if features else CriticOutput(critic(x))

    def score(self, real: Tensor, fake: Tensor, features: bool = False) -> Tuple[CriticOutput, CriticOutput]:
        """The critic's outputs on a real and a fake batch: one pass for both, or two when batch norm would mix their
        statistics; with `features`, its last hidden features too."""
        if self.stack.critic_has_batch_norm:
            return self.critic_output(real, features), self.critic_output(fake, features)
        n = real.shape[self.sample_dim]
        both = self.critic_output(torch.cat([real, fake], dim=self.sample_dim), features)
        if both.features is None:
            return CriticOutput(both.score[..., :n]), CriticOutput(both.score[..., n:])
        return (
            CriticOutput(both.score[..., :n], both.features[..., :n, :]),
            CriticOutput(both.score[..., n:], both.features[..., n:, :]),
        )

    def penalty(self, real: Tensor, fake: Tensor, like: Tensor) -> Tensor:
        transform = self.loss.penalty_transform
        return self.stack.penalty(real, fake, like, transform, self.noise, self.critic, self.sample_dim)


@contextlib.contextmanager
def frozen(network: nn.Module) -> Iterator[None]:
    """The generator's step backpropagates through the critic, not into it."""
    network.requires_grad_(False)
    try:
        yield
    finally:
        network.requires_grad_(True)


def apply_critic(s: Steps, opt_d: Any) -> None:
    opt_d.step()
    s.stack.after_critic_step()


def apply_generator(s: Steps, opt_g: Any) -> None:
    opt_g.step()
    s.stack.update_ema()


def critic_step(s: Steps, opt_d: Any, real: Tensor) -> Logs:
    """One critic step on a real batch [K, N, ...] and fresh fakes: critic loss plus the constraints' penalties."""

    def compute() -> Logs:
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = s.generator(s.z(real.shape[s.sample_dim]))
        real_out, fake_out = s.score(real, fake)
        d_loss = s.loss.critic_loss(real_out, fake_out)
        penalty = s.penalty(real, fake, d_loss)
        s.backward((d_loss + penalty).sum())
        return {"critic": d_loss.detach(), "penalty": penalty.detach()}

    logs = s.run(compute)
    apply_critic(s, opt_d)
    return logs


def generator_step(s: Steps, opt_g: Any, real: Tensor, alternating: bool = False) -> Logs:
    """One step on the GAN generator loss, or (alternating) on the loss's extra objective (Alt-Bures)."""

    def compute() -> Logs:
        opt_g.zero_grad(set_to_none=True)
        with frozen(s.critic):
            fake = s.generator(s.z(s.generator_n(real)))
            real_out: Optional[CriticOutput] = None
            if alternating or s.loss.needs_features:
                fake_out = s.critic_output(fake, features=True)
                with torch.no_grad():
                    real_out = s.critic_output(real, features=True)
            else:
                fake_out = s.critic_output(fake)
            if alternating:
                assert real_out is not None
                g_loss = s.loss.alternating_generator_loss(fake_out, real_out)
                if g_loss is None:
                    raise TypeError(f"{type(s.loss).__name__} draws an extra real batch but has no alternating loss")
            else:
                g_loss = s.loss.generator_loss(fake_out, real_out)
            s.backward(g_loss.sum())
        return {"alternating" if alternating else "generator": g_loss.detach()}

    logs = s.run(compute)
    apply_generator(s, opt_g)
    return logs


def simultaneous_step(s: Steps, opt_g: Any, opt_d: Any, real: Tensor) -> Logs:
    """One forward pass, then the critic's gradients from its loss and the generator's from its own, both at the
    same weights, and both steps (Bures GAN's train_step). The critic scores the generator's batch; penalties take
    the first pairs."""

    def compute() -> Logs:
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        fake = s.generator(s.z(s.generator_n(real)))
        real_out, fake_out = s.score(real, fake, features=s.loss.needs_features)
        d_loss = s.loss.critic_loss(CriticOutput(real_out.score), CriticOutput(fake_out.score))
        penalty = s.penalty(real, fake, d_loss)
        g_loss = s.loss.generator_loss(fake_out, _detached(real_out))
        s.backward(g_loss.sum(), inputs=s.stack.parameters_of(s.stack.generator), retain_graph=True)
        s.backward((d_loss + penalty).sum(), inputs=s.stack.parameters_of(s.stack.critic))
        return {"critic": d_loss.detach(), "penalty": penalty.detach(), "generator": g_loss.detach()}

    logs = s.run(compute)
    apply_critic(s, opt_d)
    apply_generator(s, opt_g)
    return logs


def generator_iteration(s: Steps, opt_g: Any, opt_d: Any, reals: List[Tensor], update: str) -> Logs:
    """One generator iteration on its real batches: the loss's alternating step on the first when it draws one, then
    the critic steps and the generator step (alternating), or the last critic step and the generator step from one
    pass (simultaneous)."""
    reals = list(reals)
    logs: Logs = {}
    if s.loss.extra_real_batches:
        logs.update(generator_step(s, opt_g, reals.pop(0), alternating=True))
    simultaneous = update == "simultaneous"
    for real in reals[:-1] if simultaneous else reals:
        logs.update(critic_step(s, opt_d, real))
    if simultaneous:
        logs.update(simultaneous_step(s, opt_g, opt_d, reals[-1]))
    else:
        logs.update(generator_step(s, opt_g, reals[-1]))
    return logs


def begin_iteration(s: Steps, g_iters: int, batch: Tensor, update: str, device: torch.device) -> None:
    """Each point's training stream at this generator iteration, told how much it will draw: z for every critic step
    and the generator step(s), one interpolation epsilon per critic step (batch: [per_step, K, N, ...], K = 1 for a
    run alone)."""
    n = batch.shape[2]
    extra = s.loss.extra_real_batches
    critic_steps = batch.shape[0] - extra
    generator_n = s.generator_batch_size or n
    critic_z = (critic_steps - (update == "simultaneous")) * n  # simultaneous: the last scores G's own z
    normal = (critic_z + (1 + extra) * generator_n) * s.stack.z_dim
    s.noise.begin(g_iters, device, s.dtype, normal=normal, uniform=critic_steps * n)


def _detached(out: CriticOutput) -> CriticOutput:
    return CriticOutput(out.score.detach(), None if out.features is None else out.features.detach())
