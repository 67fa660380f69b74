"""Each point's status, the one owner of it: training, then ok, diverged, failed or interrupted at an iteration.

The record (metrics.json), the loggers' final status and the views a point's callbacks see all read it here.
Divergence is flagged on the device (no host synchronisation per step) and read every log interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor

TRAINING, OK, DIVERGED, FAILED, INTERRUPTED = "training", "ok", "diverged", "failed", "interrupted"
PRUNED = "pruned"  # an adaptive sweep's pruner stopped it at an evaluation (gansweep.callbacks.trial)


@dataclass
class PointStatus:
    status: str = TRAINING
    ended_at: Optional[int] = None  # the generator iterations it completed when its run ended
    diverged_at: Optional[int] = None  # its first generator iteration with a non-finite loss
    error: Optional[str] = None  # failed: "Type: message"
    traceback: Optional[str] = None
    exception: Optional[BaseException] = None  # failed: the error itself (a single run raises it once recorded)

    def record_fields(self) -> Dict[str, Any]:
        """What metrics.json says of how the run ended."""
        fields: Dict[str, Any] = {"status": self.status, "g_iters": self.ended_at}
        if self.status == DIVERGED:
            fields["diverged_at"] = self.diverged_at
        if self.status == PRUNED:
            fields["pruned_at"] = self.ended_at
        if self.status == FAILED:
            fields.update(error=self.error, traceback=self.traceback)
        return fields


class Health:
    """The statuses of K points, and the device-side flags of their first non-finite iteration. `on_end(k)` is told
    whenever point k's run ends (its slot leaves the batched computation, gansweep.model.stack)."""

    def __init__(self, n_points: int, on_end: Optional[Callable[[int], None]] = None) -> None:
        self.points = [PointStatus() for _ in range(n_points)]
        self.first_non_finite: Optional[Tensor] = None  # [K] on the training device, -1 while finite
        self.on_end = on_end
        # the group's generator iteration at which each slot's point started (a refilled slot's, GANModule.refill):
        # the iterations passed in are the group's, those a point's status holds its own
        self.offsets = [0] * n_points

    def restart(self, k: int, at: int) -> None:
        """Slot k holds a new point from the group's generator iteration `at` on: training, its flag cleared."""
        self.points[k] = PointStatus()
        self.offsets[k] = int(at)
        if self.first_non_finite is not None:
            self.first_non_finite[k] = -1

    def ended_now(self, k: int, g_iters: int) -> bool:
        """Whether point k's run ended at the group's generator iteration `g_iters`."""
        return self.points[k].ended_at == g_iters - self.offsets[k]

    def training(self) -> List[int]:
        return [k for k, point in enumerate(self.points) if point.status == TRAINING]

    def any_training(self) -> bool:
        return any(point.status == TRAINING for point in self.points)

    def watch(self, per_point: Tensor, g_iters: int) -> None:
        """Flag, on the device, each point whose values [logs, K] of generator iteration `g_iters` are not finite."""
        if self.first_non_finite is None or self.first_non_finite.device != per_point.device:
            self.first_non_finite = torch.full((len(self.points),), -1, device=per_point.device)
        finite = torch.isfinite(per_point).all(dim=0)
        flags = self.first_non_finite
        self.first_non_finite = torch.where(finite | (flags >= 0), flags, g_iters)

    def read(self, g_iters: int, points: Optional[List[int]] = None) -> List[int]:
        """The training points (of `points`, default all) whose losses turned non-finite, now diverged (a host
        synchronisation)."""
        if self.first_non_finite is None:
            return []
        firsts = self.first_non_finite.tolist()
        out = [k for k in self.training() if firsts[k] >= 0 and (points is None or k in points)]
        for k in out:
            self.end(k, DIVERGED, g_iters, diverged_at=int(firsts[k]) - self.offsets[k])
        return out

    def end(self, k: int, status: str, at: int, **fields: Any) -> None:
        """Point k's run ends at the group's generator iteration `at` (its own count recorded) with `status`
        (diverged_at, error, traceback)."""
        point = self.points[k]
        point.status, point.ended_at = status, at - self.offsets[k]
        for key, value in fields.items():
            setattr(point, key, value)
        if self.on_end is not None:
            self.on_end(k)

    def fail(self, k: int, error: BaseException, traceback: str, at: int) -> None:
        self.end(k, FAILED, at, error=f"{type(error).__name__}: {error}", traceback=traceback, exception=error)

    def settle(self, status: str, at: int, error: Optional[BaseException] = None, traceback: str = "") -> None:
        """Every point still training ends with `status` (the fit stopped for all of them); a divergence not read
        yet comes first: such a point is diverged, not interrupted or failed."""
        self.read(at)
        for k in self.training():
            if error is not None:
                self.fail(k, error, traceback, at)
            else:
                self.end(k, status, at)
