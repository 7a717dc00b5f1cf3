"""Noise-level schedules: each returns the whole sigma grid, float64, descending, ending in 0.

The discretizations are those of EDM's ablation (Karras et al. 2022, Table 1 and eq. 5):
``edm`` (rho schedule), ``vp`` (uniform in the VP time t), ``ve`` (geometric in sigma^2)
and ``loglinear`` (geometric in sigma). The endpoints are first clamped to the valid range
[valid_min, valid_max] of the denoiser, as EDM does with ``net.sigma_min``/``net.sigma_max``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from restart_lightning.vp_sde import vp_sigma

# The VP discretization's lowest time (EDM Table 1; training uses its own epsilon_t).
VP_EPSILON_S = 1e-3


def _clamp_range(sigma_min: float, sigma_max: float, valid_min: float, valid_max: float) -> tuple[float, float]:
    lo, hi = max(float(sigma_min), float(valid_min)), min(float(sigma_max), float(valid_max))
    if not 0 < lo < hi < math.inf:
        raise ValueError(
            f"schedule: need 0 < sigma_min < sigma_max < inf after clamping to the denoiser's valid range "
            f"[{valid_min}, {valid_max}]; got sigma_min={lo}, sigma_max={hi}"
        )
    return lo, hi


def _finish(sigmas: Tensor, sigma_min: float, sigma_max: float) -> Tensor:
    """Pin the endpoints exactly and append sigma_N = 0."""
    sigmas = sigmas.clone()
    sigmas[0] = sigma_max
    if len(sigmas) > 1:
        sigmas[-1] = sigma_min
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def _fraction(num_steps: int) -> Tensor:
    """i / (N - 1) for i = 0..N-1 (a single step starts at sigma_max)."""
    if num_steps < 1:
        raise ValueError(f"num_steps = {num_steps}: allowed range num_steps >= 1")
    return torch.arange(num_steps, dtype=torch.float64) / max(num_steps - 1, 1)


def karras_sigmas(
    num_steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    *,
    valid_min: float = 0.0,
    valid_max: float = math.inf,
) -> Tensor:
    """EDM eq. 5: sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho."""
    lo, hi = _clamp_range(sigma_min, sigma_max, valid_min, valid_max)
    a, b = hi ** (1 / rho), lo ** (1 / rho)
    return _finish((a + _fraction(num_steps) * (b - a)) ** rho, lo, hi)


def vp_sigmas(
    num_steps: int,
    sigma_min: float = vp_sigma(VP_EPSILON_S),
    sigma_max: float = vp_sigma(1.0),
    epsilon_s: float = VP_EPSILON_S,
    *,
    valid_min: float = 0.0,
    valid_max: float = math.inf,
) -> Tensor:
    """VP discretization: t_i uniform from 1 to epsilon_s, sigma_i = sigma(t_i).

    beta_d and beta_min are refitted so that sigma(1) = sigma_max and sigma(epsilon_s) = sigma_min
    after clamping: with L(t) = ln(sigma(t)^2 + 1) = beta_d t^2/2 + beta_min t,
    beta_d = 2 (L(eps)/eps - L(1)) / (eps - 1) and beta_min = L(1) - beta_d / 2.
    """
    lo, hi = _clamp_range(sigma_min, sigma_max, valid_min, valid_max)
    l_1, l_eps = math.log1p(hi**2), math.log1p(lo**2)
    beta_d = 2 * (l_eps / epsilon_s - l_1) / (epsilon_s - 1)
    beta_min = l_1 - 0.5 * beta_d
    t = 1 + _fraction(num_steps) * (epsilon_s - 1)
    return _finish(vp_sigma(t, beta_d, beta_min), lo, hi)


def ve_sigmas(
    num_steps: int,
    sigma_min: float = 0.02,
    sigma_max: float = 100.0,
    *,
    valid_min: float = 0.0,
    valid_max: float = math.inf,
) -> Tensor:
    """VE discretization: sigma_i^2 = sigma_max^2 (sigma_min^2 / sigma_max^2)^(i/(N-1))."""
    lo, hi = _clamp_range(sigma_min, sigma_max, valid_min, valid_max)
    variance = hi**2 * (lo**2 / hi**2) ** _fraction(num_steps)
    return _finish(variance.sqrt(), lo, hi)


def loglinear_sigmas(
    num_steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    valid_min: float = 0.0,
    valid_max: float = math.inf,
) -> Tensor:
    """Log-linear discretization: ln sigma_i uniform from ln sigma_max to ln sigma_min."""
    lo, hi = _clamp_range(sigma_min, sigma_max, valid_min, valid_max)
    return _finish((math.log(hi) + _fraction(num_steps) * (math.log(lo) - math.log(hi))).exp(), lo, hi)


SCHEDULES: dict[str, Callable[..., Tensor]] = {
    "edm": karras_sigmas,
    "vp": vp_sigmas,
    "ve": ve_sigmas,
    "loglinear": loglinear_sigmas,
}


def get_sigmas(
    schedule: str,
    num_steps: int,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float = 7.0,
    *,
    valid_min: float = 0.0,
    valid_max: float = math.inf,
) -> Tensor:
    """The grid of the schedule called ``schedule``; None endpoints take that schedule's defaults.

    ``rho`` is used by the ``edm`` schedule only.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: unknown value {schedule!r}; allowed values: {', '.join(SCHEDULES)}")
    kwargs: dict[str, float] = {"valid_min": valid_min, "valid_max": valid_max}
    if sigma_min is not None:
        kwargs["sigma_min"] = sigma_min
    if sigma_max is not None:
        kwargs["sigma_max"] = sigma_max
    if schedule == "edm":
        kwargs["rho"] = rho
    sigmas = SCHEDULES[schedule](num_steps, **kwargs)
    _check_grid(sigmas, schedule, rho)
    return sigmas


def _check_grid(sigmas: Tensor, schedule: str, rho: float) -> None:
    """A usable grid is finite and strictly decreasing (a repeated sigma is a zero-length step)."""
    body = sigmas[:-1]
    if not bool(torch.isfinite(body).all()) or not bool((body[1:] < body[:-1]).all()):
        detail = f"rho = {rho}" if schedule == "edm" else f"schedule {schedule!r}"
        raise ValueError(
            f"schedule: {detail} with {len(body)} steps on [{float(body[-1]):.6g}, {float(body[0]):.6g}] gives a "
            "degenerate grid (non-finite or repeated sigmas); allowed: settings whose sigmas strictly decrease "
            "(fewer steps, a wider sigma range or, for edm, a smaller rho)"
        )
