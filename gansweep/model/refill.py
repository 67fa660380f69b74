"""A fused group's slot taking a new point mid-fit (an adaptive sweep's refill, gansweep.callbacks.refill): the slot's
tensors, hyperparameters, optimizer state, EMA and noise become what the new point has when it starts alone, and the
other slots are not touched, so the new point trains as it would alone and the others as they would without it."""

from __future__ import annotations

from typing import Any, Optional

from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gansweep.model.points import GANPoint
from gansweep.model.stacked_optim import restart_group
from gansweep.noise import EVALUATION, PointNoise
from gansweep.optim import point_decay, restart_schedule


def refill_slot(module: Any, k: int, point: GANPoint) -> None:
    """Slot k of `module` (a GANModule under a running Trainer) holds `point` from the current generator iteration,
    as its iteration 0. The slot's own modules stay (a stacked network's are views of its tensors): they take the new
    point's initial state; its constraints, optimizer factories, EMA decay and seed replace the old point's."""
    stack = module.stack
    slot: GANPoint = stack.points[k]
    networks = (point.networks.generator, point.networks.critic)
    fresh = [factory(net.parameters()).param_groups[0] for factory, net in zip(point.optimizers, networks, strict=True)]
    average = _average(point)  # what may raise is done before the slot is touched
    schedulers = [config.scheduler for config in module.trainer.lr_scheduler_configs]
    for scheduler in schedulers:
        point_decay(scheduler, k)
    slot.networks.generator.load_state_dict(point.networks.generator.state_dict())
    slot.networks.critic.load_state_dict(point.networks.critic.state_dict())
    slot.constraints, slot.optimizers, slot.ema, slot.seed = point.constraints, point.optimizers, point.ema, point.seed
    stack.penalties = stack.fused_penalties()
    if stack.averages and average is not None:
        stack.averages[k].load_state_dict(average.state_dict())
        stack.averages[k].multi_avg_fn = average.multi_avg_fn
    for optimizer, group in zip(module.trainer.optimizers, fresh, strict=True):
        restart_group(optimizer, k, group)
    for scheduler in schedulers:  # optim.decay: the new point's schedule from its iteration 0
        restart_schedule(scheduler, k)
    module.steps.noise.restart(k, point.seed, module.g_iters)
    module.sampler.noise[k] = PointNoise([point.seed], False, EVALUATION)


def _average(point: GANPoint) -> Optional[AveragedModel]:
    """The point's EMA generator as its run alone starts it (gansweep.model.stack), or None without train.ema."""
    if point.ema is None:
        return None
    return AveragedModel(point.networks.generator, multi_avg_fn=get_ema_multi_avg_fn(point.ema), use_buffers=True)
