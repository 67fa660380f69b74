"""GPU leases: each starting point gets a device with a free slot, and a finished point frees its slot at once."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

# A lease is the CUDA_VISIBLE_DEVICES value a point's process runs with; None leaves the variable as it is.
Lease = Optional[str]


class Leases:
    """`per_device` slots on each device; a point takes a slot on the least busy device, so work spreads out."""

    def __init__(self, devices: Sequence[Lease], per_device: int) -> None:
        if not devices or per_device < 1:
            raise ValueError("a lease pool needs at least one device and one slot per device")
        self.per_device = per_device
        self.busy: Dict[Lease, int] = {device: 0 for device in devices}

    @property
    def capacity(self) -> int:
        return len(self.busy) * self.per_device

    @property
    def free(self) -> int:
        return self.capacity - sum(self.busy.values())

    def acquire(self) -> Lease:
        """A slot on the least busy device (the first such in order); raises when every slot is taken."""
        device = min(self.busy, key=lambda d: self.busy[d])
        if self.busy[device] >= self.per_device:
            raise RuntimeError("no free lease: wait for a point to finish first")
        self.busy[device] += 1
        return device

    def release(self, device: Lease) -> None:
        if self.busy.get(device, 0) < 1:
            raise RuntimeError(f"lease {device!r} released but not held")
        self.busy[device] -= 1
