"""gansweep: Hydra-configured sweeps of GAN objectives and Lipschitz constraints."""

__version__ = "0.1.0"
