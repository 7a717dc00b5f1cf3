"""Preconditionings that turn a raw network F into a denoiser D (EDM paper, Table 1).

D(x; sigma) = c_skip(sigma) * x + c_out(sigma) * F(c_in(sigma) * x, c_noise(sigma))

Each preconditioning knows sigma_data and the sigma range its network was trained on;
the same ``scalings`` are used by the forward pass and by the loss weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from restart_lightning.vp_sde import BETA_D, BETA_MIN, vp_sigma, vp_t

PRECONDITIONINGS = ("edm", "vp", "ve")


@dataclass(frozen=True)
class Scalings:
    c_skip: Tensor
    c_out: Tensor
    c_in: Tensor
    c_noise: Tensor


class Preconditioning:
    """Base class: ``scalings(sigma)`` and the valid range [sigma_min, sigma_max]."""

    name = "base"
    sigma_min: float = 0.0
    sigma_max: float = math.inf
    # The dtype the network receives c_noise in; None: the input's. Discrete-time networks take
    # fractional timesteps up to ~1000, which float16 would round to the nearest 0.5.
    c_noise_dtype: torch.dtype | None = None

    def __init__(self, sigma_data: float = 0.5) -> None:
        if not sigma_data > 0:
            raise ValueError(f"sigma_data must be > 0, got {sigma_data}")
        self.sigma_data = float(sigma_data)

    def scalings(self, sigma: Tensor) -> Scalings:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sigma_data={self.sigma_data})"


class EDMPreconditioning(Preconditioning):
    """Karras et al. 2022: unit-variance input and target at every sigma."""

    name = "edm"

    def scalings(self, sigma: Tensor) -> Scalings:
        sd2 = self.sigma_data**2
        total = sigma**2 + sd2
        return Scalings(
            c_skip=sd2 / total,
            c_out=sigma * self.sigma_data / total.sqrt(),
            c_in=total.rsqrt(),
            c_noise=sigma.log() / 4,
        )


class VPPreconditioning(Preconditioning):
    """Song et al. 2021 DDPM++ (variance preserving), in the sigma parameterisation.

    sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1), t in [epsilon_t, 1];
    the network sees c_noise = (M - 1) t(sigma).
    """

    name = "vp"

    def __init__(
        self,
        sigma_data: float = 0.5,
        beta_d: float = BETA_D,
        beta_min: float = BETA_MIN,
        M: int = 1000,
        epsilon_t: float = 1e-5,
    ) -> None:
        super().__init__(sigma_data)
        self.beta_d, self.beta_min, self.M, self.epsilon_t = beta_d, beta_min, M, epsilon_t
        self.sigma_min = float(self.sigma(torch.tensor(epsilon_t, dtype=torch.float64)))
        self.sigma_max = float(self.sigma(torch.tensor(1.0, dtype=torch.float64)))

    def sigma(self, t: Tensor) -> Tensor:
        """sigma(t) with this preconditioning's betas (``restart_lightning.vp_sde``)."""
        return vp_sigma(t, self.beta_d, self.beta_min)

    def t(self, sigma: Tensor) -> Tensor:
        """Inverse of ``sigma(t)``."""
        return vp_t(sigma, self.beta_d, self.beta_min)

    def scalings(self, sigma: Tensor) -> Scalings:
        return Scalings(
            c_skip=torch.ones_like(sigma),
            c_out=-sigma,
            c_in=(sigma**2 + 1).rsqrt(),
            c_noise=(self.M - 1) * self.t(sigma),
        )


class VEPreconditioning(Preconditioning):
    """Song et al. 2021 NCSN++ (variance exploding)."""

    name = "ve"
    sigma_min = 0.02
    sigma_max = 100.0

    def scalings(self, sigma: Tensor) -> Scalings:
        return Scalings(
            c_skip=torch.ones_like(sigma),
            c_out=sigma,
            c_in=torch.ones_like(sigma),
            c_noise=(0.5 * sigma).log(),
        )


def build_preconditioning(name: str, sigma_data: float = 0.5) -> Preconditioning:
    """The preconditioning called ``name`` (one of ``PRECONDITIONINGS``)."""
    classes = {"edm": EDMPreconditioning, "vp": VPPreconditioning, "ve": VEPreconditioning}
    if name not in classes:
        raise ValueError(f"preconditioning: unknown value {name!r}; allowed values: {', '.join(PRECONDITIONINGS)}")
    return classes[name](sigma_data=sigma_data)


def _broadcast(sigma: Tensor, x: Tensor) -> Tensor:
    """sigma of shape [B] (or a scalar) reshaped to broadcast against x of shape [B, ...]."""
    sigma = torch.as_tensor(sigma, device=x.device)
    if sigma.ndim == 0:
        sigma = sigma.expand(x.shape[0])
    return sigma.reshape(-1, *([1] * (x.ndim - 1)))


class Denoiser(nn.Module):
    """D(x, sigma, labels=None): the one seam between training and sampling.

    Wraps a network ``net(x_in, c_noise, labels)``. The preconditioning is computed in
    float64-safe fashion in the dtype of sigma, then cast to the network's input dtype.
    """

    def __init__(self, net: nn.Module, preconditioning: Preconditioning) -> None:
        super().__init__()
        self.net = net
        self.preconditioning = preconditioning

    @property
    def sigma_min(self) -> float:
        return self.preconditioning.sigma_min

    @property
    def sigma_max(self) -> float:
        return self.preconditioning.sigma_max

    @property
    def sigma_data(self) -> float:
        return self.preconditioning.sigma_data

    def forward(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        sigma_b = _broadcast(sigma, x).to(torch.float64 if x.dtype == torch.float64 else torch.float32)
        s = self.preconditioning.scalings(sigma_b)
        c_noise = s.c_noise.reshape(-1).to(self.preconditioning.c_noise_dtype or x.dtype)
        f = self.net((s.c_in * x).to(x.dtype), c_noise, labels)
        return (s.c_skip * x + s.c_out * f.to(s.c_out.dtype)).to(x.dtype)
