"""A point's share of a group's optimizer and scheduler states, in the format of its unfused run, and back: a point's
checkpoint is an ordinary run's, and a group resumes from its points' own checkpoints."""

from __future__ import annotations

from typing import Any, Dict, Sequence

import torch

FORCED_FOREACH = "gansweep_foreach"  # a param-group key: `foreach` was set by a fused group, not by the user


def point_optimizer_state(state: Dict[str, Any], k: int) -> Dict[str, Any]:
    """Parameter group k of a group's optimizer state as an optimizer over point k's parameters alone."""
    group = dict(state["param_groups"][k])
    ids = list(group["params"])
    if group.pop(FORCED_FOREACH, False):  # the group's choice, not the point's
        group["foreach"] = None
    return {  # copies: a stacked optimizer's entries are views of the group's tensors (gansweep.model.stacked_optim)
        "state": {i: _copied(state["state"][old]) for i, old in enumerate(ids) if old in state["state"]},
        "param_groups": [dict(group, params=list(range(len(ids))))],
    }


def _copied(entry: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value.clone() if isinstance(value, torch.Tensor) else value for key, value in entry.items()}


def merge_optimizer_states(states: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The inverse of point_optimizer_state: each point's one-group state as one group per point, in point order."""
    merged: Dict[str, Any] = {"state": {}, "param_groups": []}
    offset = 0
    for state in states:
        (group,) = state["param_groups"]
        n = len(group["params"])
        merged["state"].update({offset + int(i): value for i, value in state["state"].items()})
        merged["param_groups"].append(dict(group, params=list(range(offset, offset + n))))
        offset += n
    return merged


def point_scheduler_state(state: Dict[str, Any], k: int, n_points: int) -> Dict[str, Any]:
    """A scheduler's state for point k: entries kept per parameter group (base_lrs, _last_lr, lr_lambdas) cut to
    group k; the step count is the group's, less where point k's own schedule started (a refilled slot's point,
    gansweep.optim.LinearDecay's offset): its own count, as its run alone has it."""
    own: Dict[str, Any] = {key: [value[k]] if _per_group(value, n_points) else value for key, value in state.items()}
    decays = own.get("lr_lambdas")
    decay: Any = decays[0] if isinstance(decays, list) and len(decays) == 1 else None
    offset = int(decay.get("offset", 0)) if isinstance(decay, dict) else 0
    if offset:
        own["lr_lambdas"] = [dict(decay, offset=0)]
        own["last_epoch"] -= offset
        own["_step_count"] -= offset
    return own


def merge_scheduler_states(states: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The inverse of point_scheduler_state for points at one generator iteration (a resumed group's: restore.py):
    their step count is the group's."""
    first = states[0]
    return {key: [s[key][0] for s in states] if _per_group(value, 1) else value for key, value in first.items()}


def _per_group(value: Any, n_groups: int) -> bool:
    return isinstance(value, list) and len(value) == n_groups


def force_foreach(optimizers: Sequence[Any]) -> None:
    """A group's optimizers take the multi-tensor update (torch picks it by itself on CUDA only) where the user left
    `foreach` unset: K parameter groups of small tensors. A point's own state records `foreach` unset again
    (point_optimizer_state), so it resumes as its unfused run would."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            if group.get("foreach", False) is None:
                group["foreach"] = True
                group[FORCED_FOREACH] = True


def point_training_state(optimizers: Sequence[Any], schedulers: Sequence[Any], k: int, n_points: int) -> Dict[str, Any]:
    """Point k's optimizer and scheduler states as its unfused run's checkpoint holds them."""
    return {
        "optimizer_states": [point_optimizer_state(opt.state_dict(), k) for opt in optimizers],
        "lr_schedulers": [point_scheduler_state(s.state_dict(), k, n_points) for s in schedulers],
    }


def load_training_states(optimizers: Sequence[Any], schedulers: Sequence[Any], checkpoints: Sequence[Dict]) -> None:
    """The group's optimizers and schedulers from each point's own checkpoint (in point order)."""
    for i, optimizer in enumerate(optimizers):
        optimizer.load_state_dict(merge_optimizer_states([c["optimizer_states"][i] for c in checkpoints]))
    for i, scheduler in enumerate(schedulers):
        scheduler.load_state_dict(merge_scheduler_states([c["lr_schedulers"][i] for c in checkpoints]))
