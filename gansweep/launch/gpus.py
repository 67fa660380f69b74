"""The GPUs a sweep may lease, found without initialising CUDA in the launching process.

A process that has initialised CUDA cannot safely fork, and CUDA reads CUDA_VISIBLE_DEVICES only once, so the
launcher never touches torch.cuda: it reads CUDA_VISIBLE_DEVICES, or else asks `nvidia-smi -L`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import List, Mapping

_DEVICE_ID = re.compile(r"^(\d+|GPU-[0-9A-Za-z-]+|MIG-[0-9A-Za-z/-]+)$")
_SMI_LINE = re.compile(r"^GPU (\d+):")


def parse_visible_devices(value: str) -> List[str]:
    """CUDA_VISIBLE_DEVICES as CUDA reads it: indices or UUIDs, up to the first invalid entry (e.g. -1)."""
    devices = []
    for item in value.split(","):
        item = item.strip()
        if not _DEVICE_ID.match(item):
            break
        devices.append(item)
    return devices


def parse_nvidia_smi(listing: str) -> List[str]:
    """The GPU indices in `nvidia-smi -L` output ("GPU 0: NVIDIA H100 (UUID: ...)"; MIG lines are not GPUs)."""
    return [m.group(1) for m in map(_SMI_LINE.match, listing.splitlines()) if m]


def nvidia_smi_gpus() -> List[str]:
    """Every GPU the driver reports; none when nvidia-smi is missing or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        done = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def visible_gpus(environ: Mapping[str, str] = os.environ) -> List[str]:
    """The device ids a child may be given in CUDA_VISIBLE_DEVICES (an existing setting is respected)."""
    if "CUDA_VISIBLE_DEVICES" in environ:
        return parse_visible_devices(environ["CUDA_VISIBLE_DEVICES"])
    return nvidia_smi_gpus()
