"""A model already in k-diffusion's convention, ``model(x, sigma, **cond) -> denoised``, as D(x, sigma, labels).

k-diffusion's wrappers (``CompVisDenoiser``, ``DiscreteEpsDDPMDenoiser``, ``VDenoiser``, its own
``Denoiser``) take the noisy sample in the sigma parameterisation and a ``[B]`` sigma and return the
denoised estimate: exactly this project's seam, up to how conditioning is passed. Labels are given
to the model through a conditioning module (``adapters.conditioning``), under its keyword.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn


def _attribute(model: Any, name: str, default: float) -> float:
    value = getattr(model, name, None)
    return float(value) if value is not None else default


class KDiffusionDenoiser(nn.Module):
    """D(x, sigma, labels) = ``model(x, sigma, **conditioning(labels))``.

    Args:
        model: a callable in k-diffusion's convention (an ``nn.Module`` to move with the LightningModule).
        sigma_min, sigma_max: the valid sigma range; None: the model's own ``sigma_min``/``sigma_max``
            attributes (k-diffusion's discrete wrappers have them), else (0, inf).
        conditioning: labels -> keyword arguments of the model (None: labels are not passed).
        sigma_data: the data's standard deviation (None: the model's ``sigma_data``, else 0.5); tuning reads it.
        latent_space: a ``LatentSpace`` that decodes the model's samples (None: samples are data).
    """

    def __init__(self, model: Any, sigma_min: float | None = None, sigma_max: float | None = None,
                 conditioning: nn.Module | None = None, sigma_data: float | None = None,
                 latent_space: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.conditioning = conditioning
        self.sigma_min = float(sigma_min) if sigma_min is not None else _attribute(model, "sigma_min", 0.0)
        self.sigma_max = float(sigma_max) if sigma_max is not None else _attribute(model, "sigma_max", math.inf)
        self.sigma_data = float(sigma_data) if sigma_data is not None else _attribute(model, "sigma_data", 0.5)
        if not 0 <= self.sigma_min < self.sigma_max:
            raise ValueError(f"sigma_min, sigma_max: need 0 <= sigma_min < sigma_max, got {self.sigma_min}, "
                             f"{self.sigma_max}")
        self.latent_space = latent_space

    def forward(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype).reshape(-1)
        if sigma.numel() == 1 and x.shape[0] != 1:
            sigma = sigma.expand(x.shape[0])
        if labels is not None and self.conditioning is None:
            raise ValueError("this k-diffusion model takes no labels: set model.condition_key to pass them")
        extra = self.conditioning(labels) if self.conditioning is not None and labels is not None else {}
        return self.model(x, sigma, **extra)

    def extra_repr(self) -> str:
        return f"sigma_min={self.sigma_min:.4g}, sigma_max={self.sigma_max:.4g}"
