"""Spectral normalisation (Miyato et al. 2018) of every linear and convolutional layer of the critic."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gansweep.constraints.base import Constraint

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


class SpectralNorm(Constraint):
    """Divides each layer's weight by its largest singular value, estimated by power iteration."""

    def __init__(self, n_power_iterations: int = 1) -> None:
        self.n_power_iterations = n_power_iterations

    def prepare(self, critic: nn.Module) -> None:
        for module in list(critic.modules()):
            if isinstance(module, _LAYERS):
                spectral_norm(module, n_power_iterations=self.n_power_iterations)
