"""2-D toy distributions generated from a seed, with exact densities where they exist.

The Gaussian mixtures expose their exact log-density and their exact denoiser
E[y | y + sigma n = x]: with it a sampler's discretization error can be measured
apart from any network's approximation error.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

TOY_DISTRIBUTIONS = ("grid", "ring", "moons", "checkerboard")


class GaussianMixture:
    """Isotropic mixture sum_k w_k N(mu_k, std^2 I), computed in float64.

    Args:
        means: [K, d] component means.
        std: the components' common standard deviation.
        weights: [K] mixture weights (uniform if omitted).
    """

    def __init__(self, means: Tensor, std: float, weights: Tensor | None = None) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.std = float(std)
        k = self.means.shape[0]
        w = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else torch.as_tensor(weights).double()
        self.weights = w / w.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[k] + self.std * noise

    def _component_log_likelihoods(self, x: Tensor, var: Tensor) -> Tensor:
        """log w_k + log N(x; mu_k, var I) for every sample and component: [B, K]."""
        d = self.dim
        sq = (x[:, None, :] - self.means.to(x.device)[None]).square().sum(-1)
        return self.weights.to(x.device).log()[None] - 0.5 * (sq / var + d * torch.log(2 * math.pi * var))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of the data, [B]."""
        x = x.double()
        var = torch.tensor(self.std**2, dtype=torch.float64, device=x.device)
        return torch.logsumexp(self._component_log_likelihoods(x, var), dim=1)

    def denoise(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """Exact posterior mean E[y | x] for x = y + sigma n (closed form).

        Given component k, x ~ N(mu_k, (std^2 + sigma^2) I) and
        E[y | x, k] = mu_k + std^2 / (std^2 + sigma^2) (x - mu_k); mix with p(k | x).
        """
        out_dtype = x.dtype
        x = x.double()
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).reshape(-1)
        var = (self.std**2 + sigma.expand(x.shape[0]) ** 2)[:, None]  # [B, 1]
        posterior = torch.softmax(self._component_log_likelihoods(x, var), dim=1)  # [B, K]
        means = self.means.to(x.device)[None]  # [1, K, d]
        y_given_k = means + (self.std**2 / var)[..., None] * (x[:, None, :] - means)  # [B, K, d]
        return (posterior[..., None] * y_given_k).sum(1).to(out_dtype)

    def denoiser(self):
        """The exact denoiser as a callable D(x, sigma, labels=None)."""
        return ExactDenoiser(self)


class ExactDenoiser:
    """A mixture's exact denoiser with the attributes samplers read (sigma range, sigma_data)."""

    sigma_min = 0.0
    sigma_max = math.inf

    def __init__(self, mixture: GaussianMixture) -> None:
        self.mixture = mixture
        centered = mixture.means - (mixture.weights[:, None] * mixture.means).sum(0)
        per_dim_var = (mixture.weights[:, None] * centered.square()).sum(0).mean() + mixture.std**2
        self.sigma_data = float(per_dim_var.sqrt())

    def __call__(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        return self.mixture.denoise(x, sigma, labels)


def grid_mixture(size: int = 5, spacing: float = 1.0, std: float = 0.05) -> GaussianMixture:
    """size x size Gaussians on a square grid centred at the origin."""
    coords = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) * spacing
    means = torch.cartesian_prod(coords, coords)
    return GaussianMixture(means, std)


def ring_mixture(num_modes: int = 8, radius: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """num_modes Gaussians evenly spaced on a circle."""
    angles = 2 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(means, std)


def two_moons(n: int, generator: torch.Generator | None = None, noise: float = 0.05) -> Tensor:
    """Two interleaved half circles, centred and scaled to unit-ish spread."""
    upper = torch.rand(n, generator=generator) < 0.5
    angle = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    x = torch.where(upper, angle.cos(), 1 - angle.cos())
    y = torch.where(upper, angle.sin(), 0.5 - angle.sin())
    points = torch.stack([x - 0.5, y - 0.25], dim=1) * 1.5
    return points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)


def checkerboard(n: int, generator: torch.Generator | None = None, squares: int = 4, size: float = 4.0) -> Tensor:
    """Uniform on the dark squares of a squares x squares board of side ``size``."""
    cell = size / squares
    # Draw a cell among the dark ones (row + column even), then a uniform point inside it.
    dark = [(r, c) for r in range(squares) for c in range(squares) if (r + c) % 2 == 0]
    pick = torch.randint(len(dark), (n,), generator=generator)
    corners = torch.tensor(dark, dtype=torch.float64)[pick] * cell
    offsets = torch.rand(n, 2, generator=generator, dtype=torch.float64) * cell
    return corners + offsets - size / 2


def make_mixture(name: str) -> GaussianMixture | None:
    """The Gaussian mixture behind a toy distribution, or None if it is not one."""
    return {"grid": grid_mixture, "ring": ring_mixture}.get(name, lambda: None)()


def sample_toy(name: str, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n points [n, 2] (float64) of the toy distribution called ``name``."""
    if name not in TOY_DISTRIBUTIONS:
        raise ValueError(f"data.name: invalid value {name!r}; allowed values: {', '.join(TOY_DISTRIBUTIONS)}")
    mixture = make_mixture(name)
    if mixture is not None:
        return mixture.sample(n, generator)
    return {"moons": two_moons, "checkerboard": checkerboard}[name](n, generator)
