"""The LightningModule that trains any (generator, critic, loss plug-in, constraint plug-ins)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gansweep.constraints.base import Constraint
from gansweep.losses.base import CriticOutput, GANLoss
from gansweep.models.base import GANNetworks
from gansweep.optim import OptimizerFactory, SchedulerFactory


class GANModule(pl.LightningModule):
    """One training_step is one GENERATOR iteration: n_critic critic steps, each on its own real batch and
    fresh z, then one generator step. The batch holds those real batches stacked on dim 0.

    Losses and penalties return one value per point ([*points], see GANLoss); their sum is backpropagated.
    Nothing waits for the device between log intervals: divergence is flagged on the device and read every
    `log_every` generator iterations (and at the last one).
    """

    first_non_finite: Tensor  # a buffer: first generator iteration with a non-finite loss, -1 while none

    def __init__(
        self,
        networks: GANNetworks,
        loss: GANLoss,
        constraints: Sequence[Constraint],
        optimizers: Tuple[OptimizerFactory, OptimizerFactory],
        scheduler: Optional[SchedulerFactory] = None,
        generator_batch_size: Optional[int] = None,
        ema: Optional[float] = None,
        log_every: int = 50,
    ) -> None:
        """optimizers: (generator, critic) factories taking parameters; scheduler: one per optimizer, or None."""
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.critic, self.z_dim = networks.generator, networks.critic, networks.z_dim
        self.loss, self.constraints = loss, list(constraints)
        for constraint in self.constraints:
            constraint.prepare(self.critic)
        self.optimizer_factories, self.scheduler_factory = optimizers, scheduler
        self.generator_batch_size, self.log_every = generator_batch_size, log_every
        self.latest_curves: Dict[str, float] = {}  # the last logged train/* values
        self.ema_generator = (
            AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(ema), use_buffers=True) if ema else None
        )
        self.g_iters = 0  # a resumed run starts at its checkpoint's count (gansweep.callbacks.restore)
        self.last_iteration = 0  # the generator iteration this fit ends at, set when training starts
        self.diverged_at: Optional[int] = None
        # batch norm mixes the statistics of real and fake when they share a pass: score them separately
        self.critic_has_batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.critic.modules())
        self.register_buffer("first_non_finite", torch.tensor(-1), persistent=False)

    # -- optimizers ---------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        make_g, make_d = self.optimizer_factories
        opt_g, opt_d = make_g(self.generator.parameters()), make_d(self.critic.parameters())
        if self.scheduler_factory is not None:
            return [opt_g, opt_d], [self.scheduler_factory(opt_g), self.scheduler_factory(opt_d)]
        return [opt_g, opt_d]

    # -- training -----------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        """The fit runs the data module's items from g_iters on: one generator iteration each."""
        self.last_iteration = self.g_iters + int(self.trainer.num_training_batches)

    def _z(self, n: int) -> Tensor:
        """Noise [n, z_dim]: an ordinary run has no leading point dims."""
        return torch.randn(n, self.z_dim, device=self.device)

    def _critic_step(self, opt_d: Any, real: Tensor) -> Dict[str, Tensor]:
        z = self._z(real.shape[0])
        batch_dims = z.dim() - 1  # [*points, N]
        n = real.shape[batch_dims - 1]
        with torch.no_grad():
            fake = self.generator(z)
        if self.critic_has_batch_norm:
            real_scores, fake_scores = self.critic(real), self.critic(fake)
        else:  # one pass for both
            scores = self.critic(torch.cat([real, fake], dim=batch_dims - 1))
            real_scores, fake_scores = scores[..., :n], scores[..., n:]
        d_loss = self.loss.critic_loss(CriticOutput(real_scores), CriticOutput(fake_scores))
        penalty = torch.zeros_like(d_loss)
        for constraint in self.constraints:
            term = constraint.penalty(self.critic, real, fake, self.loss.penalty_transform, batch_dims)
            if term is not None:
                penalty = penalty + term
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward((d_loss + penalty).sum())
        opt_d.step()
        for constraint in self.constraints:
            constraint.after_critic_step(self.critic)
        return {"critic": d_loss.detach(), "penalty": penalty.detach()}

    def _generator_step(self, opt_g: Any, real: Tensor, alternating: bool = False) -> Tensor:
        """One step on the GAN generator loss, or (alternating) on the loss's extra objective (Alt-Bures)."""
        fake = self.generator(self._z(self.generator_batch_size or real.shape[0]))
        if alternating or self.loss.needs_features:
            fake_out = CriticOutput(*self.critic(fake, return_features=True))
            with torch.no_grad():
                real_out: Optional[CriticOutput] = CriticOutput(*self.critic(real, return_features=True))
        else:
            fake_out, real_out = CriticOutput(self.critic(fake)), None
        if alternating:
            assert real_out is not None
            g_loss = self.loss.alternating_generator_loss(fake_out, real_out)
            if g_loss is None:
                raise TypeError(f"{type(self.loss).__name__} draws an extra real batch but has no alternating loss")
        else:
            g_loss = self.loss.generator_loss(fake_out, real_out)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss.sum())
        opt_g.step()
        if self.ema_generator is not None:
            self.ema_generator.update_parameters(self.generator)
        return g_loss.detach()

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self._optimizers()
        reals = list(batch.unbind(0))
        logs: Dict[str, Tensor] = {}
        if self.loss.extra_real_batches:
            self.critic.requires_grad_(False)
            logs["alternating"] = self._generator_step(opt_g, reals.pop(0), alternating=True)
            self.critic.requires_grad_(True)
        for real in reals:
            logs.update(self._critic_step(opt_d, real))
        self.critic.requires_grad_(False)  # the generator step backpropagates through the critic, not into it
        logs["generator"] = self._generator_step(opt_g, reals[-1])
        self.critic.requires_grad_(True)
        for scheduler in self._schedulers():
            scheduler.step()
        self.g_iters += 1
        finite = torch.isfinite(torch.stack([value.sum() for value in logs.values()])).all()
        self.first_non_finite = torch.where(finite | (self.first_non_finite >= 0), self.first_non_finite, self.g_iters)
        if self.g_iters % self.log_every == 0 or self.g_iters >= self.last_iteration:
            self.check_divergence()
            self._log_curves(logs)

    def check_divergence(self) -> bool:
        """Reads the device-side flag (a host synchronisation: once per log interval, and before a checkpoint);
        the first time it is set, records diverged_at and stops training. True once diverged."""
        first = int(self.first_non_finite)
        if first >= 0 and self.diverged_at is None:
            self.diverged_at = first
            self.trainer.should_stop = True
        return self.diverged_at is not None

    def _log_curves(self, logs: Dict[str, Tensor]) -> None:
        """Straight to the loggers with step = generator iterations (Lightning's step counts every optimizer step);
        kept in `latest_curves` for the progress bar."""
        grads = [p.grad.norm() for p in self.critic.parameters() if p.grad is not None]
        if grads:  # still the last critic step's gradients: the generator step does not touch them
            logs["critic_grad_norm"] = torch.linalg.vector_norm(torch.stack(grads))
        self.latest_curves = {f"train/{k}": v.item() for k, v in logs.items()}
        for logger in self.loggers:
            logger.log_metrics(self.latest_curves, step=self.g_iters)

    def _optimizers(self) -> List[Any]:
        return _as_list(self.optimizers())

    def _schedulers(self) -> List[Any]:
        return _as_list(self.lr_schedulers())

    # -- sampling -----------------------------------------------------------------------------------
    def sample(self, n: int, batch_size: int = 4096) -> Tensor:
        """n generator samples from fresh noise, from the EMA generator when one is kept (LGAN's evaluation)."""
        return torch.cat([self.generate(self._z(min(batch_size, n - i))) for i in range(0, n, batch_size)])

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        """G(z) in eval mode (batch norm uses its running statistics), the EMA generator when one is kept."""
        generator = self.ema_generator.module if self.ema_generator is not None else self.generator
        was_training = generator.training
        generator.eval()
        out = generator(z.to(self.device))
        generator.train(was_training)
        return out


def _as_list(value: Any) -> List[Any]:
    """Lightning returns one optimizer/scheduler bare, several as a list, none as None."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
