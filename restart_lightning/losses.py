"""Denoising score-matching losses of EDM, VP and VE (EDM paper, Table 1).

Each loss draws sigma from its training distribution and weights the per-sample squared
error so that every noise level contributes comparably:
loss = weight(sigma) * mean_elements |D(y + sigma n; sigma) - y|^2,
with weight = 1 / c_out(sigma)^2 of the loss's preconditioning (EDM eq. 8: the network's
effective target then has unit variance).
"""

from __future__ import annotations

import torch
from torch import Tensor

from restart_lightning.preconditioning import (
    Denoiser,
    EDMPreconditioning,
    Preconditioning,
    VEPreconditioning,
    VPPreconditioning,
    _broadcast,
)

LOSSES = ("edm", "vp", "ve")


class DenoisingLoss:
    """Base class: ``sample_sigma`` (training distribution) and ``weight`` (lambda(sigma) = 1 / c_out^2)."""

    name = "base"
    preconditioning: Preconditioning  # whose c_out the weight is

    def sample_sigma(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        raise NotImplementedError

    def weight(self, sigma: Tensor) -> Tensor:
        return self.preconditioning.scalings(sigma).c_out.pow(-2)

    def __call__(
        self,
        denoiser: Denoiser,
        y: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Per-sample weighted losses [B] and the sigmas [B] they were drawn at."""
        sigma = self.sample_sigma(y.shape[0], generator=generator, device=y.device)
        n = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        x = y + _broadcast(sigma, y).to(y.dtype) * n
        d = denoiser(x, sigma, labels)
        squared_error = (d - y).square().flatten(1).mean(1)
        return self.weight(sigma) * squared_error, sigma


class EDMLoss(DenoisingLoss):
    """ln(sigma) ~ N(P_mean, P_std^2); weight = (sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2."""

    name = "edm"

    def __init__(self, sigma_data: float = 0.5, P_mean: float = -1.2, P_std: float = 1.2) -> None:
        self.sigma_data, self.P_mean, self.P_std = sigma_data, P_mean, P_std
        self.preconditioning = EDMPreconditioning(sigma_data)

    def sample_sigma(self, n, generator=None, device=None):
        z = torch.randn(n, generator=generator, device=device)
        return (self.P_mean + self.P_std * z).exp()


class VPLoss(DenoisingLoss):
    """t ~ U(epsilon_t, 1), sigma = sigma(t); weight = 1 / sigma^2."""

    name = "vp"

    def __init__(self, beta_d: float = 19.9, beta_min: float = 0.1, epsilon_t: float = 1e-5) -> None:
        self.preconditioning = VPPreconditioning(beta_d=beta_d, beta_min=beta_min, epsilon_t=epsilon_t)
        self.epsilon_t = epsilon_t

    def sample_sigma(self, n, generator=None, device=None):
        u = torch.rand(n, generator=generator, device=device)
        return self.preconditioning.sigma(1 + u * (self.epsilon_t - 1))


class VELoss(DenoisingLoss):
    """ln(sigma) ~ U(ln sigma_min, ln sigma_max); weight = 1 / sigma^2."""

    name = "ve"

    def __init__(self, sigma_min: float = 0.02, sigma_max: float = 100.0) -> None:
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self.preconditioning = VEPreconditioning()

    def sample_sigma(self, n, generator=None, device=None):
        u = torch.rand(n, generator=generator, device=device)
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** u


def build_loss(name: str, sigma_data: float = 0.5, P_mean: float = -1.2, P_std: float = 1.2) -> DenoisingLoss:
    """The loss called ``name`` (one of ``LOSSES``)."""
    if name == "edm":
        return EDMLoss(sigma_data=sigma_data, P_mean=P_mean, P_std=P_std)
    if name == "vp":
        return VPLoss()
    if name == "ve":
        return VELoss()
    raise ValueError(f"loss: unknown value {name!r}; allowed values: {', '.join(LOSSES)}")


__all__ = ["LOSSES", "DenoisingLoss", "EDMLoss", "VPLoss", "VELoss", "build_loss"]
