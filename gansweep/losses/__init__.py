"""GAN objectives as plug-ins: one file each, selected with `loss=NAME` (conf/loss/NAME.yaml)."""

from gansweep.losses.base import CriticOutput, GANLoss

__all__ = ["CriticOutput", "GANLoss"]
