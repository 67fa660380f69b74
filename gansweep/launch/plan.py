"""The launcher's settings checked and turned into a plan: which leases exist and how many points run at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Sequence

from gansweep.launch.leases import Lease


@dataclass(frozen=True)
class LaunchPlan:
    devices: List[Lease]  # one entry per GPU; a single None (leave CUDA_VISIBLE_DEVICES) or "" (hide GPUs) on CPU
    per_device: int  # points at once on each entry
    simulated: bool  # GPU leases without GPUs (tests, dry runs): each child only sets CUDA_VISIBLE_DEVICES
    preload: List[str]  # modules the warm parent imports once
    fuse: int = 1  # points trained as one model in one process, when they differ only in fusible values

    @property
    def concurrency(self) -> int:
        return len(self.devices) * self.per_device

    def describe(self) -> str:
        fused = f", up to {self.fuse} points fused per job" if self.fuse > 1 else ""
        if self.devices in ([None], [""]):
            hidden = ", GPUs hidden" if self.devices == [""] else ""
            return f"{self.per_device} CPU job(s) at once{hidden}{fused}"
        fake = " (simulated: no GPU is visible)" if self.simulated else ""
        return f"GPUs {','.join(map(str, self.devices))} x {self.per_device} job(s) each{fake}{fused}"


def _positive_int(settings: Mapping[str, Any], key: str, minimum: int) -> int:
    value = settings.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"hydra.launcher.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def plan_launch(settings: Mapping[str, Any], visible: Sequence[str]) -> LaunchPlan:
    """Concurrency = GPUs x jobs_per_gpu, or `workers` CPU jobs without GPUs; every message names its key."""
    workers = _positive_int(settings, "workers", 1)
    per_gpu = _positive_int(settings, "jobs_per_gpu", 1)
    fuse = _positive_int(dict(settings, fuse=settings.get("fuse", 1)), "fuse", 1)
    preload = [str(name) for name in settings.get("preload") or []]
    gpus = settings.get("gpus")
    if gpus is None:
        if visible:
            return LaunchPlan(list(visible), per_gpu, False, preload, fuse)
        return LaunchPlan([None], workers, False, preload, fuse)
    gpus = _positive_int(settings, "gpus", 0)
    if gpus == 0:
        return LaunchPlan([""], workers, False, preload, fuse)
    if not visible:
        return LaunchPlan([str(i) for i in range(gpus)], per_gpu, True, preload, fuse)
    if gpus > len(visible):
        raise ValueError(
            f"hydra.launcher.gpus={gpus} but only {len(visible)} GPU(s) are visible ({','.join(visible)}): "
            f"set hydra.launcher.gpus to at most {len(visible)}, or null for all of them"
        )
    return LaunchPlan(list(visible[:gpus]), per_gpu, False, preload, fuse)
