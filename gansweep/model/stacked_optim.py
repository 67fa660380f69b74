"""A fused group's optimizer over stacked parameters (gansweep.model.stacked): the stock optimizer keeps one parameter
group per point over the point's views (each group's lr, betas and schedule are the point's own, and its state_dict
is the stock format a point's checkpoint holds), while the update runs once over the stacked tensors.

Adam and AdamW (the papers' optimizers) update the K points in one pass with per-point hyperparameter tensors [K];
their per-point state entries are views of stacked state tensors. Any other optimizer is handed each point's slice
of the stacked gradients and steps as it would unfused. Points out of training are left as they are, state included.
"""

from __future__ import annotations

import math
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
        """Each stacked parameter's update; the per-point coefficients are computed on the host once per distinct
        step count (as the stock update computes them, in Python floats) and sent in one copy, without a sync."""
        if not active:
            return
        mask = None if len(active) == len(self.views) else self._mask(active)
        coefficients: Dict[Tuple, Tensor] = {}
        for i, param in enumerate(self.stacked):
            if param.grad is None:
                continue
            step, exp_avg, exp_avg_sq = self._state(i)
            step += 1 if mask is None else mask.to(step)
            key = (tuple(step.tolist()), param.device, param.dtype)
            if key not in coefficients:
                coefficients[key] = _coefficients(self.param_groups, key[0], mask, param)
            _adam_update(param, param.grad, exp_avg, exp_avg_sq, coefficients[key], self._weight_decay(), mask)

    def _weight_decay(self) -> Tuple[bool, bool]:
        """(any point with Adam's weight decay on the gradient, any with AdamW's decoupled one)."""
        decays = [(float(g["weight_decay"]) != 0, _decoupled(g)) for g in self.param_groups]
        return any(d and not dec for d, dec in decays), any(d and dec for d, dec in decays)

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


ONE_MINUS_B1, B2, ONE_MINUS_B2, BC2_SQRT, EPS, STEP_SIZE, COUPLED, DECAY = range(8)  # the rows of _coefficients


def _coefficients(
    groups: List[Dict[str, Any]], steps: Tuple[float, ...], mask: Optional[Tensor], like: Tensor
) -> Tensor:
    """[8, K] like `like`: each point's 1 - beta1, beta2, 1 - beta2, sqrt(bias correction 2), eps, -lr / bias
    correction 1, coupled weight decay and decoupled decay factor at its step, in Python floats as torch.optim.Adam
    computes them.
    A point outside `mask` gets step 1's (its update is discarded; its step count did not move)."""
    rows: List[List[float]] = [[] for _ in range(8)]
    for k, (group, step) in enumerate(zip(groups, steps, strict=True)):
        step = max(step, 1.0) if mask is not None and not bool(mask[k]) else step
        beta1, beta2 = (float(b) for b in group["betas"])
        lr, decay = float(group["lr"]), float(group["weight_decay"])
        decoupled = _decoupled(group)
        values = (
            1 - beta1,
            beta2,
            1 - beta2,
            math.sqrt(1 - beta2**step),
            float(group["eps"]),
            -lr / (1 - beta1**step),
            0.0 if decoupled else decay,
            1 - lr * decay if decoupled else 1.0,
        )
        for row, value in zip(rows, values, strict=True):
            row.append(value)
    table = torch.tensor(rows, dtype=torch.float64).to(like.dtype)
    if like.is_cuda:
        table = table.pin_memory()
    return table.to(like.device, non_blocking=True)


def _adam_update(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    c: Tensor,
    weight_decay: Tuple[bool, bool],
    mask: Optional[Tensor],
) -> None:
    """torch.optim.Adam's (and AdamW's) update of every slot with its own coefficients `c` (_coefficients); slots
    outside `mask` are left as they are."""
    c = c.reshape(c.shape + (1,) * (param.dim() - 1))
    new_param = param if mask is None else param.clone()
    new_avg = exp_avg if mask is None else exp_avg.clone()
    new_avg_sq = exp_avg_sq if mask is None else exp_avg_sq.clone()
    coupled, decoupled = weight_decay
    if decoupled:
        new_param.mul_(c[DECAY])
    if coupled:
        grad = grad + c[COUPLED] * param
    new_avg.lerp_(grad, c[ONE_MINUS_B1])
    new_avg_sq.mul_(c[B2]).addcmul_(grad, grad * c[ONE_MINUS_B2])
    denom = (new_avg_sq.sqrt() / c[BC2_SQRT]).add_(c[EPS])
    new_param.addcdiv_(new_avg * c[STEP_SIZE], denom)
    if mask is not None:
        keep = mask.to(param.device, non_blocking=True).reshape((-1,) + (1,) * (param.dim() - 1))
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


def restart_group(optimizer: Optimizer, k: int, fresh: Dict[str, Any]) -> None:
    """Parameter group k takes another point's hyperparameters (`fresh`: the group of that point's own optimizer) and
    a fresh state, as that point's optimizer starts; the other groups untouched. A stacked Adam's state entries stay
    views of its stacked state, zeroed in place."""
    group = optimizer.param_groups[k]
    group.update({key: value for key, value in fresh.items() if key not in ("params", "foreach")})
    stacked_state = getattr(optimizer, "stacked_state", None) if getattr(optimizer, "fused", False) else None
    for i, param in enumerate(group["params"]):
        if stacked_state is not None and i in stacked_state:
            for tensor in stacked_state[i]:
                tensor[k].zero_()
        else:
            optimizer.state.pop(param, None)
