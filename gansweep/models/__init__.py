"""Architectures: a generator and a critic built from the dataset's shape (`arch=NAME`)."""

from gansweep.models.base import GANNetworks

__all__ = ["GANNetworks"]
