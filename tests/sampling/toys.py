"""Independent exact truths for sampler tests: Gaussian data, a Gaussian mixture, a two-sample distance."""

from __future__ import annotations

import math

import torch
from torch import Tensor


class GaussianData:
    """y ~ N(0, s^2 I): D(x; sigma) = x s^2 / (s^2 + sigma^2); the PF-ODE flow is a rescaling."""

    dtype = torch.float64

    def __init__(self, s: float = 0.5) -> None:
        self.s = s

    def __call__(self, x: Tensor, sigma: Tensor, labels: Tensor | None = None) -> Tensor:
        sigma = sigma.reshape(-1, *([1] * (x.ndim - 1)))
        return x * self.s**2 / (self.s**2 + sigma**2)

    def flow(self, x: Tensor, sigma_from: float, sigma_to: float) -> Tensor:
        """Exact PF-ODE solution x(sigma_to) from x(sigma_from)."""
        return x * math.sqrt((self.s**2 + sigma_to**2) / (self.s**2 + sigma_from**2))


class Mixture:
    """Equal-weight isotropic Gaussian mixture on a size x size grid with exact denoiser and density."""

    dtype = torch.float64

    def __init__(self, size: int = 3, spacing: float = 1.0, std: float = 0.05) -> None:
        coords = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) * spacing
        self.means = torch.cartesian_prod(coords, coords)  # [K, 2]
        self.std = std
        self.calls = 0

    def _log_weights(self, x: Tensor, var: Tensor) -> Tensor:
        """log N(x; mu_k, var I) up to a constant common to all k: [B, K]."""
        return -((x[:, None, :] - self.means[None]) ** 2).sum(-1) / (2 * var)

    def __call__(self, x: Tensor, sigma: Tensor, labels: Tensor | None = None) -> Tensor:
        self.calls += 1
        var = (self.std**2 + sigma.to(torch.float64) ** 2)[:, None]  # [B, 1]
        p = torch.softmax(self._log_weights(x.double(), var), dim=1)  # p(k | x)
        shrink = (self.std**2 / var)[..., None]
        posterior_means = self.means[None] + shrink * (x.double()[:, None, :] - self.means[None])  # E[y | x, k]
        return (p[..., None] * posterior_means).sum(1).to(x.dtype)

    def log_prob(self, y: Tensor) -> Tensor:
        var = self.std**2
        log_k = self._log_weights(y.double(), torch.tensor(var)) - math.log(2 * math.pi * var)
        return torch.logsumexp(log_k, dim=1) - math.log(len(self.means))

    def sample(self, n: int, seed: int = 1234) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        k = torch.randint(len(self.means), (n,), generator=g)
        return self.means[k] + self.std * torch.randn(n, 2, generator=g, dtype=torch.float64)


def sliced_wasserstein(a: Tensor, b: Tensor, num_projections: int = 64, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between two equal-size point clouds [n, d]."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(a.shape[1], num_projections, generator=g, dtype=torch.float64)
    directions /= directions.norm(dim=0, keepdim=True)
    pa, pb = (a.double() @ directions).sort(0).values, (b.double() @ directions).sort(0).values
    return float((pa - pb).abs().mean())


class Counting:
    """Wraps a denoiser, counting calls and recording what it was called with."""

    def __init__(self, denoiser, nfe_per_call: int = 1, **attributes) -> None:
        self.denoiser, self.calls, self.nfe_per_call, self.seen = denoiser, 0, nfe_per_call, []
        for key, value in attributes.items():
            setattr(self, key, value)

    def __call__(self, x: Tensor, sigma: Tensor, labels: Tensor | None = None) -> Tensor:
        self.calls += 1
        self.seen.append((x.dtype, sigma.dtype, tuple(sigma.shape), labels))
        return self.denoiser(x, sigma)
