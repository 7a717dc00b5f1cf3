"""Networks F(x_in, c_noise, labels) wrapped by a preconditioning into a denoiser."""

from restart_lightning.networks.mlp import MLP

__all__ = ["MLP"]
