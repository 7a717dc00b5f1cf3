"""Classifier-free guidance (Ho & Salimans 2022) as a denoiser wrapper.

``D_w(x; sigma, c) = D(x; sigma, null) + w * (D(x; sigma, c) - D(x; sigma, null))``, with the null
class encoded as label -1. The conditional and unconditional evaluations run as one batched
forward pass, counted as 2 NFE (the paper counts both).

Special cases, evaluated with a single pass and counted as 1 NFE: ``w == 1`` is exactly the
conditional denoiser and ``w == 0`` exactly the unconditional one (same value as the formula,
half the cost). ``nfe_per_call`` reports which case applies.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["GuidedDenoiser"]


class GuidedDenoiser(nn.Module):
    """Wrap a denoiser ``D(x, sigma, labels)`` with classifier-free guidance of scale ``guidance_scale``.

    Called as ``guided(x, sigma, labels)``; ``labels`` (int64 ``[B]``) are required, ``sigma`` may
    be a scalar, ``[B]`` or ``[B, 1, ..., 1]``. ``sigma_min``, ``sigma_max`` and ``sigma_data`` are
    read from the wrapped denoiser.
    """

    def __init__(self, denoiser: Any, guidance_scale: float) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.guidance_scale = float(guidance_scale)

    @property
    def nfe_per_call(self) -> int:
        """Network evaluations per call: 1 for ``w`` in {0, 1}, else 2."""
        return 1 if self.guidance_scale in (0.0, 1.0) else 2

    @property
    def sigma_min(self) -> float:
        return self.denoiser.sigma_min

    @property
    def sigma_max(self) -> float:
        return self.denoiser.sigma_max

    @property
    def sigma_data(self) -> float:
        return self.denoiser.sigma_data

    @property
    def latent_space(self) -> Any:
        """The wrapped denoiser's latent space (a latent model's VAE), or None."""
        return getattr(self.denoiser, "latent_space", None)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("GuidedDenoiser needs class labels (int64 [B]); got labels=None")
        null = torch.full_like(labels, -1)
        w = self.guidance_scale
        if w == 1.0:
            return self.denoiser(x, sigma, labels)
        if w == 0.0:
            return self.denoiser(x, sigma, null)
        batch = x.shape[0]
        if isinstance(sigma, torch.Tensor) and sigma.ndim > 0 and sigma.shape[0] == batch and batch > 1:
            sigma_in = torch.cat([sigma, sigma])
        else:
            sigma_in = sigma  # a scalar (or broadcastable [1, ...]) serves both halves
        d_cond, d_uncond = self.denoiser(torch.cat([x, x]), sigma_in, torch.cat([labels, null])).chunk(2)
        return d_uncond + w * (d_cond - d_uncond)

    def extra_repr(self) -> str:
        return f"guidance_scale={self.guidance_scale}"
