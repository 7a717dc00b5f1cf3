"""Models in k-diffusion's convention, ``model(x, sigma, **cond) -> denoised``, for the adapter's tests."""

import torch
from torch import nn


class GaussianClassDenoiser(nn.Module):
    """The exact denoiser of class-conditional Gaussians N(mean_c, std^2 I) (images of ``shape``).

    D(x, sigma, class_labels) = mean_c + (x - mean_c) std^2 / (std^2 + sigma^2); the means are weights,
    so a test can load them from a file. ``sigma_min``/``sigma_max`` as k-diffusion's discrete wrappers have.
    """

    def __init__(self, num_classes: int = 3, shape: tuple[int, int, int] = (1, 4, 4), std: float = 0.5) -> None:
        super().__init__()
        self.means = nn.Parameter(torch.zeros(num_classes, *shape))
        self.std = std
        self.register_buffer("sigma_min", torch.tensor(0.01), persistent=False)
        self.register_buffer("sigma_max", torch.tensor(50.0), persistent=False)

    def forward(self, x, sigma, class_labels=None):
        mean = self.means[class_labels].to(x.dtype)
        shrink = (self.std**2 / (self.std**2 + sigma**2)).reshape(-1, 1, 1, 1).to(x.dtype)
        return mean + (x - mean) * shrink
