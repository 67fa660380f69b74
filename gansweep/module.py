"""The LightningModule that trains any (generator, critic, loss plug-in, constraint plug-ins)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gansweep.constraints.base import Constraint
from gansweep.losses.base import CriticOutput, GANLoss
from gansweep.models.base import GANNetworks
from gansweep.optim import build_optimizers, linear_decay


class GANModule(pl.LightningModule):
    """One training_step is one GENERATOR iteration: n_critic critic steps, each on its own real batch and
    fresh z, then one generator step. The batch holds those real batches stacked on dim 0."""

    def __init__(
        self,
        networks: GANNetworks,
        loss: GANLoss,
        constraints: Sequence[Constraint],
        optim: Any,
        iters: int,
        generator_batch_size: Optional[int] = None,
        ema: Optional[float] = None,
        log_every: int = 50,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.critic, self.z_dim = networks.generator, networks.critic, networks.z_dim
        self.loss, self.constraints = loss, list(constraints)
        for constraint in self.constraints:
            constraint.prepare(self.critic)
        self.optim_cfg, self.iters = optim, iters
        self.generator_batch_size, self.log_every = generator_batch_size, log_every
        self.ema_generator = (
            AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(ema), use_buffers=True) if ema else None
        )
        self.g_iters = 0
        self.diverged_at: Optional[int] = None

    # -- optimizers ---------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        opt_g, opt_d = build_optimizers(self.optim_cfg, self.generator, self.critic)
        if self.optim_cfg.decay == "linear":
            return [opt_g, opt_d], [linear_decay(opt_g, self.iters), linear_decay(opt_d, self.iters)]
        return [opt_g, opt_d]

    # -- training -----------------------------------------------------------------------------------
    def _z(self, n: int) -> Tensor:
        return torch.randn(n, self.z_dim, device=self.device)

    def _critic_step(self, opt_d: Any, real: Tensor) -> Dict[str, Tensor]:
        with torch.no_grad():
            fake = self.generator(self._z(real.shape[0]))
        scores = self.critic(torch.cat([real, fake]))  # one pass; the critics here have no batch norm
        d_loss = self.loss.critic_loss(CriticOutput(scores[: len(real)]), CriticOutput(scores[len(real) :]))
        penalty = torch.zeros((), device=self.device)
        for constraint in self.constraints:
            term = constraint.penalty(self.critic, real, fake, self.loss.penalty_transform)
            if term is not None:
                penalty = penalty + term
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss + penalty)
        opt_d.step()
        for constraint in self.constraints:
            constraint.after_critic_step(self.critic)
        return {"critic": d_loss.detach(), "penalty": penalty.detach()}

    def _generator_step(self, opt_g: Any, real: Tensor, objective: str = "gan") -> Tensor:
        fake = self.generator(self._z(self.generator_batch_size or real.shape[0]))
        wants_features = objective == "alternating" or self.loss.needs_features
        real_out = None
        if wants_features:
            fake_out = CriticOutput(*self.critic(fake, return_features=True))
            with torch.no_grad():
                real_out = CriticOutput(*self.critic(real, return_features=True))
        else:
            fake_out = CriticOutput(self.critic(fake))
        if objective == "alternating":
            g_loss = self.loss.alternating_generator_loss(fake_out, real_out)
        else:
            g_loss = self.loss.generator_loss(fake_out, real_out)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        if self.ema_generator is not None:
            self.ema_generator.update_parameters(self.generator)
        return g_loss.detach()

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        reals = list(batch.unbind(0))
        logs: Dict[str, Tensor] = {}
        if self.loss.extra_real_batches:
            self.critic.requires_grad_(False)
            logs["alternating"] = self._generator_step(opt_g, reals.pop(0), "alternating")
            self.critic.requires_grad_(True)
        for real in reals:
            logs.update(self._critic_step(opt_d, real))
        self.critic.requires_grad_(False)  # the generator step backpropagates through the critic, not into it
        logs["generator"] = self._generator_step(opt_g, reals[-1])
        self.critic.requires_grad_(True)
        for scheduler in self._schedulers():
            scheduler.step()
        self.g_iters += 1
        if not torch.isfinite(torch.stack(list(logs.values()))).all():
            self.diverged_at = self.g_iters
            self.trainer.should_stop = True
        if self.g_iters % self.log_every == 0 or self.diverged_at is not None:
            self._log_curves(logs)

    def _log_curves(self, logs: Dict[str, Tensor]) -> None:
        """Straight to the logger with step = generator iterations (Lightning's step counts every optimizer step)."""
        if self.logger is None:
            return
        grads = [p.grad.norm() for p in self.critic.parameters() if p.grad is not None]
        if grads:  # still the last critic step's gradients: the generator step does not touch them
            logs["critic_grad_norm"] = torch.linalg.vector_norm(torch.stack(grads))
        self.logger.log_metrics({f"train/{k}": v.item() for k, v in logs.items()}, step=self.g_iters)

    def _schedulers(self) -> List[Any]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return schedulers if isinstance(schedulers, list) else [schedulers]

    # -- sampling -----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, batch_size: int = 4096) -> Tensor:
        """n generator samples, from the EMA generator when one is kept (LGAN's evaluation)."""
        generator = self.ema_generator.module if self.ema_generator is not None else self.generator
        was_training = generator.training
        generator.eval()
        out = torch.cat([generator(self._z(min(batch_size, n - i))) for i in range(0, n, batch_size)])
        generator.train(was_training)
        return out
