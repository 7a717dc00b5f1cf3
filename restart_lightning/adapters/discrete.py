"""Discrete-time (DDPM-family) models in the sigma parameterisation, as an EDM preconditioning.

A model trained on T discrete levels with cumulative products alphabar_t sees
x_t = sqrt(alphabar_t) x0 + sqrt(1 - alphabar_t) eps. In the sigma parameterisation
x = x0 + sigma eps, so

    sigma(t) = sqrt((1 - alphabar_t) / alphabar_t),   x_t = x / sqrt(1 + sigma^2),

and a continuous sigma is given to the network as the fractional timestep interpolated linearly in
log sigma between the two neighbouring levels (as k-diffusion's ``DiscreteSchedule`` and diffusers'
``_sigma_to_t`` do). The network's output F becomes the denoised estimate
D = c_skip x + c_out F with (EDM paper, Table 1, and the v-parameterisation of Salimans & Ho 2022):

    epsilon:      c_skip = 1,              c_out = -sigma
    v_prediction: c_skip = 1 / (1 + s^2),  c_out = -sigma / sqrt(1 + sigma^2)
    sample:       c_skip = 0,              c_out = 1

and c_in = 1 / sqrt(1 + sigma^2) for all three. The valid sigma range is [sigma(0), sigma(T - 1)].
"""

from __future__ import annotations

import torch
from torch import Tensor

from restart_lightning.preconditioning import Preconditioning, Scalings

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")

# diffusers' Euler scheduler stores a zero-terminal-SNR schedule's last alphabar as 2^-24 (sigma ~ 4096).
ZERO_SNR_ALPHABAR = 2.0**-24


class DiscreteVPPreconditioning(Preconditioning):
    """The scalings of a network trained on a discrete variance-preserving schedule (module docstring).

    Args:
        alphas_cumprod: alphabar_t for t = 0..T-1 (strictly decreasing, in (0, 1]); a last value of 0
            (zero terminal SNR) is raised to min(2^-24, alphabar_{T-2} / 2): 2^-24 as diffusers' Euler
            scheduler does, lower where that would not stay below the previous level.
        prediction_type: what the network predicts: ``epsilon``, ``v_prediction`` or ``sample``.
        sigma_data: the data's standard deviation; only read by tuning (the scalings do not use it).
    """

    name = "discrete_vp"
    c_noise_dtype = torch.float32  # fractional timesteps, whatever the network's dtype

    def __init__(self, alphas_cumprod: Tensor, prediction_type: str = "epsilon", sigma_data: float = 0.5) -> None:
        super().__init__(sigma_data)
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"prediction_type: unknown value {prediction_type!r}; allowed values: {', '.join(PREDICTION_TYPES)}"
            )
        alphabar = torch.as_tensor(alphas_cumprod, dtype=torch.float64).flatten().clone()
        if alphabar.numel() < 2:
            raise ValueError(f"alphas_cumprod: need at least 2 levels, got {alphabar.numel()}")
        if alphabar[-1] == 0:  # zero terminal SNR: a finite sigma_max below which the levels still decrease
            alphabar[-1] = min(ZERO_SNR_ALPHABAR, float(alphabar[-2]) / 2)
        if not (bool((alphabar > 0).all()) and bool((alphabar <= 1).all()) and bool((alphabar.diff() < 0).all())):
            raise ValueError("alphas_cumprod must decrease strictly and lie in (0, 1] (every beta in (0, 1))")
        self.prediction_type = prediction_type
        self.sigmas = ((1 - alphabar) / alphabar).sqrt()  # float64, increasing with t
        if not self.sigmas[0] > 0:
            raise ValueError("alphas_cumprod[0] must be < 1: the lowest level needs sigma > 0")
        self.log_sigmas = self.sigmas.log()
        self.sigma_min = float(self.sigmas[0])
        self.sigma_max = float(self.sigmas[-1])
        self._on_device: dict[torch.device, Tensor] = {}

    @property
    def num_timesteps(self) -> int:
        return int(self.sigmas.numel())

    def timestep(self, sigma: Tensor) -> Tensor:
        """The fractional timestep of each sigma, float64, in [0, T - 1] (log-sigma interpolation)."""
        log_sigmas = self._log_sigmas(sigma.device)
        log_sigma = sigma.to(torch.float64).clamp_min(1e-10).log()
        low = (torch.searchsorted(log_sigmas, log_sigma.reshape(-1), right=True) - 1).clamp(0, log_sigmas.numel() - 2)
        lo, hi = log_sigmas[low], log_sigmas[low + 1]
        w = ((log_sigma.reshape(-1) - lo) / (hi - lo)).clamp(0, 1)
        return (low.to(torch.float64) + w).reshape(sigma.shape)

    def scalings(self, sigma: Tensor) -> Scalings:
        total = 1 + sigma**2
        c_in = total.rsqrt()
        if self.prediction_type == "epsilon":
            c_skip, c_out = torch.ones_like(sigma), -sigma
        elif self.prediction_type == "v_prediction":
            c_skip, c_out = 1 / total, -sigma * c_in
        else:
            c_skip, c_out = torch.zeros_like(sigma), torch.ones_like(sigma)
        return Scalings(c_skip=c_skip, c_out=c_out, c_in=c_in, c_noise=self.timestep(sigma))

    def _log_sigmas(self, device: torch.device) -> Tensor:
        if device not in self._on_device:  # copied once per device, not once per network evaluation
            self._on_device[device] = self.log_sigmas.to(device)
        return self._on_device[device]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(T={self.num_timesteps}, prediction_type={self.prediction_type!r}, "
                f"sigma_min={self.sigma_min:.4g}, sigma_max={self.sigma_max:.4g})")
