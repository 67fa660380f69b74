"""Speed settings that are safe for GAN training on CUDA: TF32 matmuls/convolutions and channels-last images."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from gansweep.callbacks.evaluation import datamodule_of

_CHOICES = ("auto", True, False)


class DeviceSettings(pl.Callback):
    """train.tf32 and train.channels_last: `auto` turns each on for CUDA only, true forces it (the CPU tests
    run the channels-last path), false turns it off. Set before the data loader and the first step."""

    def __init__(self, tf32: Any = "auto", channels_last: Any = "auto") -> None:
        for key, value in (("tf32", tf32), ("channels_last", channels_last)):
            if value not in _CHOICES:
                raise ValueError(f"train.{key} is auto, true or false; got {value!r}")
        self.tf32, self.channels_last = tf32, channels_last

    def on_fit_start(self, trainer: pl.Trainer, module: Any) -> None:
        cuda = module.device.type == "cuda"
        tf32 = cuda if self.tf32 == "auto" else bool(self.tf32)  # the flags have no effect off CUDA
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        data = datamodule_of(trainer)
        images = len(tuple(data.data_shape)) == 3
        if images and (cuda if self.channels_last == "auto" else bool(self.channels_last)):
            module.to(memory_format=torch.channels_last)
            data.channels_last = True
