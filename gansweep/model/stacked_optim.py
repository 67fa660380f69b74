"""A fused group's optimizer over stacked parameters (gansweep.model.stacked): the stock optimizer keeps one parameter
group per point over the point's views (each group's lr, betas and schedule are the point's own, and its state_dict
is the stock format a point's checkpoint holds), while the update runs once over the stacked tensors.

Adam and AdamW (the papers' optimizers) update the K points in one pass with per-point hyperparameter tensors [K];
their per-point state entries are views of stacked state tensors. Any other optimizer is handed each point's slice
of the stacked gradients and steps as it would unfused. Points out of training are left as they are, state included.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.optim import Optimizer

Active = Callable[[], Sequence[int]]  # the points still training


class StackedUpdate:
    """Mixed into the optimizer's own class (as Lightning's LightningOptimizer is): `stacked[i]` is parameter i of the
    network, stacked over the points; `views[k][i]` its slice that parameter group k holds."""

    stacked: List[Tensor]
    stacked_state: Dict[int, Tuple[Tensor, Tensor, Tensor]]  # Adam: parameter i's (step [K], exp_avg, exp_avg_sq)
    views: List[List[Tensor]]
    active: Active
    fused: bool
    param_groups: List[Dict[str, Any]]
    state: Dict[Any, Dict[str, Any]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for tensor in self.stacked:
            if set_to_none:
                tensor.grad = None
            elif tensor.grad is not None:
                tensor.grad.zero_()

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        active = list(self.active())
        if self.fused:
            self._adam(active)
            return loss
        for k in active:  # the stock update, each point's slice of the gradients in its own group
            for view, tensor in zip(self.views[k], self.stacked, strict=True):
                view.grad = None if tensor.grad is None else tensor.grad[k]
        try:
            super().step()  # type: ignore[misc]
        finally:
            for views in self.views:
                for view in views:
                    view.grad = None
        return loss

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        super().load_state_dict(state_dict)  # type: ignore[misc]
        if self.fused:
            for i in range(len(self.stacked)):
                self._stack_state(i)

    # -- Adam and AdamW in one pass ---------------------------------------------------------------------------------
    def _adam(self, active: List[int]) -> None:
        if not active:
            return
        hyper = self._hyper()
        every = len(active) == len(self.views)
        mask = None if every else self._mask(active)
        for i, param in enumerate(self.stacked):
            if param.grad is None:
                continue
            step, exp_avg, exp_avg_sq = self._state(i)
            _adam_update(param, param.grad, step, exp_avg, exp_avg_sq, hyper, mask)

    def _hyper(self) -> Dict[str, Tensor]:
        """Each point's lr, betas, eps and weight decay as [K] float64 tensors (re-read every step: schedules)."""
        groups = self.param_groups
        values = {
            "lr": [float(g["lr"]) for g in groups],
            "beta1": [float(g["betas"][0]) for g in groups],
            "beta2": [float(g["betas"][1]) for g in groups],
            "eps": [float(g["eps"]) for g in groups],
            "weight_decay": [float(g["weight_decay"]) for g in groups],
        }
        hyper = {key: torch.tensor(value, dtype=torch.float64) for key, value in values.items()}
        hyper["decoupled"] = torch.tensor([_decoupled(g) for g in groups])
        return hyper

    def _mask(self, active: List[int]) -> Tensor:
        mask = torch.zeros(len(self.views), dtype=torch.bool)
        mask[active] = True
        return mask

    def _state(self, i: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Parameter i's stacked (step [K], exp_avg, exp_avg_sq), created on first use like the stock one's."""
        if i not in self.stacked_state:
            self._stack_state(i)
        return self.stacked_state[i]

    def _stack_state(self, i: int) -> None:
        """Stacks the points' state of parameter i (zeros for a point without one, as a stock Adam starts) and makes
        each point's state entries views of it."""
        param = self.stacked[i]
        states = [self.state.get(views[i]) or {} for views in self.views]
        dtype = next((s["step"].dtype for s in states if "step" in s), _scalar_dtype())  # a loaded state keeps its own
        step = torch.stack([s.get("step", torch.tensor(0.0)).to(dtype).reshape(()) for s in states])
        moments = {
            key: torch.stack([s[key].to(param) if key in s else torch.zeros_like(param[0]) for s in states])
            for key in ("exp_avg", "exp_avg_sq")
        }
        exp_avg, exp_avg_sq = moments["exp_avg"], moments["exp_avg_sq"]
        for k, views in enumerate(self.views):
            self.state[views[i]] = {"step": step[k], "exp_avg": exp_avg[k], "exp_avg_sq": exp_avg_sq[k]}
        self.stacked_state[i] = (step, exp_avg, exp_avg_sq)


def _adam_update(
    param: Tensor,
    grad: Tensor,
    step: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    hyper: Dict[str, Tensor],
    mask: Optional[Tensor],
) -> None:
    """torch.optim.Adam's (and AdamW's) update for each slot k with its own hyperparameters; slots outside `mask` are
    left untouched (their step count too)."""
    shape = (-1,) + (1,) * (param.dim() - 1)
    if mask is None:
        step += 1
    else:
        step += mask.to(step)
    steps = step.to(torch.float64)
    lr, beta1, beta2 = hyper["lr"], hyper["beta1"], hyper["beta2"]
    bias_correction1 = 1 - beta1**steps
    bias_correction2_sqrt = (1 - beta2**steps).sqrt()

    def per_slot(value: Tensor) -> Tensor:
        return value.to(device=param.device, dtype=param.dtype).reshape(shape)

    new_param = param if mask is None else param.clone()
    new_avg = exp_avg if mask is None else exp_avg.clone()
    new_avg_sq = exp_avg_sq if mask is None else exp_avg_sq.clone()
    weight_decay = hyper["weight_decay"]
    if bool((weight_decay != 0).any()):
        decoupled = hyper["decoupled"]
        coupled = torch.where(decoupled, 0.0, weight_decay)
        new_param.mul_(per_slot(1 - lr * torch.where(decoupled, weight_decay, 0.0)))
        grad = grad + per_slot(coupled) * param
    new_avg.lerp_(grad, per_slot(1 - beta1))
    new_avg_sq.mul_(per_slot(beta2)).addcmul_(grad, grad * per_slot(1 - beta2))
    denom = (new_avg_sq.sqrt() / per_slot(bias_correction2_sqrt)).add_(per_slot(hyper["eps"]))
    new_param.addcdiv_(new_avg * per_slot(-lr / bias_correction1), denom)
    if mask is not None:
        keep = mask.to(param.device).reshape(shape)
        for target, new in ((param, new_param), (exp_avg, new_avg), (exp_avg_sq, new_avg_sq)):
            target.copy_(torch.where(keep, new, target))


def _decoupled(group: Dict[str, Any]) -> bool:
    return bool(group.get("decoupled_weight_decay", False))


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


_ADAM_OPTIONS = {"amsgrad": False, "maximize": False, "capturable": False, "differentiable": False}
_CLASSES: Dict[type, type] = {}


def fusable_adam(optimizer: Optimizer) -> bool:
    """Adam or AdamW without the options the one-pass update does not cover (amsgrad, maximize, capturable, ...)."""
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
        return False
    return all(
        all(group.get(key, default) == default for key, default in _ADAM_OPTIONS.items()) and not group.get("fused")
        for group in optimizer.param_groups
    )


def stacked_optimizer(optimizer: Optimizer, stacked: List[Tensor], views: List[List[Tensor]], active: Active) -> Any:
    """`optimizer` (one parameter group per point over `views`) updating the stacked tensors: the same object, its
    class extended with StackedUpdate."""
    if len(optimizer.param_groups) != len(views):
        raise ValueError(f"a stacked optimizer has one parameter group per point: {len(views)} points")
    for group, point_views in zip(optimizer.param_groups, views, strict=True):
        if [id(p) for p in group["params"]] != [id(v) for v in point_views]:
            raise ValueError("each parameter group holds its point's parameters in the network's order")
    cls = type(optimizer)
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Stacked{cls.__name__}", (StackedUpdate, cls), {})
    fused = fusable_adam(optimizer)
    optimizer.__class__ = _CLASSES[cls]
    update: Any = optimizer
    update.stacked, update.views, update.active, update.fused = stacked, views, active, fused
    update.stacked_state = {}
    return update
