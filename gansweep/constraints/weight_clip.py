"""Weight clipping (original WGAN, Arjovsky et al. 2017): every critic parameter into [-c, c] after each step."""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn

from gansweep.constraints.base import Constraint
from gansweep.fusion.stacked import point_modules


class WeightClip(Constraint):
    fusible = ("clip", "per_point")

    def __init__(self, clip: float = 0.01) -> None:
        if clip <= 0:
            raise ValueError(f"constraint.clip.clip must be > 0, got {clip}")
        self.clip = float(clip)
        self.per_point: List[float] = []  # a fused group's clip values, one per point

    @classmethod
    def fuse(cls, per_point: Sequence[Constraint]) -> Constraint:
        """The clip value c may differ per point."""
        super().fuse(per_point)
        clips = [float(point.clip) for point in per_point]  # type: ignore[attr-defined]
        fused = cls(clips[0])
        fused.per_point = clips
        return fused

    @torch.no_grad()
    def after_critic_step(self, critic: nn.Module) -> None:
        points = point_modules(critic)
        clips = self.per_point or [self.clip] * len(points)
        for point, clip in zip(points, clips, strict=True):
            for p in point.parameters():
                p.clamp_(-clip, clip)
