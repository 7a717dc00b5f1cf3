"""Networks F(x_in, c_noise, labels) wrapped by a preconditioning into a denoiser."""

from restart_lightning.networks.mlp import MLP
from restart_lightning.networks.unet import UNet, adm_imagenet64, ddpmpp_cifar10

__all__ = ["MLP", "UNet", "adm_imagenet64", "ddpmpp_cifar10"]
