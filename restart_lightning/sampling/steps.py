"""Every solver step, written once, in the sigma parameterisation of EDM (Karras et al. 2022).

A step takes ``D(x, t) -> x0_hat`` (float64 in, float64 out, one network evaluation per
call), the float64 state x at noise level t, and returns the state at t_next. Noise is
never drawn here: a step that injects noise receives the already-scaled term ``z``, and
the std of each injection is computed by the helpers below when a plan is built.

The probability-flow ODE is dx/dsigma = d(x, sigma) = (x - D(x; sigma)) / sigma.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

from torch import Tensor

Denoise = Callable[[Tensor, float], Tensor]
History = Optional[tuple[float, Tensor]]  # (t_prev, x0_prev) of the previous multistep step

ODE_SOLVERS = ("euler", "heun", "dpmpp_2m")


def to_d(x: Tensor, x0: Tensor, t: float) -> Tensor:
    """PF-ODE derivative d = (x - D(x; t)) / t."""
    return (x - x0) / t


def euler_step(D: Denoise, x: Tensor, t: float, t_next: float) -> Tensor:
    """Euler step of the PF-ODE: x' = x + (t' - t) d(x, t). One NFE."""
    return x + (t_next - t) * to_d(x, D(x, t), t)


def heun_step(D: Denoise, x: Tensor, t: float, t_next: float) -> Tensor:
    """Heun step (EDM Alg. 1, lines 4-8): Euler predictor, trapezoidal corrector if t' > 0.

    Two NFE, or one for the final step to t' = 0, which is a plain Euler step.
    """
    d = to_d(x, D(x, t), t)
    x_next = x + (t_next - t) * d
    if t_next == 0:
        return x_next
    d_next = to_d(x_next, D(x_next, t_next), t_next)
    return x + (t_next - t) * (0.5 * d + 0.5 * d_next)


def dpmpp_2m_step(D: Denoise, x: Tensor, t: float, t_next: float, prev: History = None) -> tuple[Tensor, History]:
    """DPM-Solver++(2M) step (Lu et al. 2022, Alg. 2) with sigma as the noise level, lambda = -ln sigma.

    First order (= DDIM = Euler) when ``prev`` is None or t' = 0; otherwise the data prediction
    is extrapolated linearly in lambda from the previous step's (t_prev, x0_prev). One NFE.
    Returns the new state and the history for the next step.
    """
    x0 = D(x, t)
    if t_next == 0:
        return x0, (t, x0)
    h = math.log(t / t_next)  # lambda' - lambda
    x0_d = x0
    if prev is not None:
        t_prev, x0_prev = prev
        r = math.log(t_prev / t) / h  # h_last / h
        x0_d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
    # x' = (sigma'/sigma) x - (e^{-h} - 1) x0_d
    return (t_next / t) * x - math.expm1(-h) * x0_d, (t, x0)


def euler_maruyama_std(t: float, t_next: float) -> float:
    """Std sqrt(2 sigma |dsigma|) of the noise of one Euler-Maruyama step of the reverse SDE."""
    return math.sqrt(2 * t * abs(t_next - t))


def euler_maruyama_step(D: Denoise, x: Tensor, t: float, t_next: float, z: Tensor) -> Tensor:
    """Euler-Maruyama step of the reverse SDE dx = -2 sigma score dsigma + sqrt(2 sigma |dsigma|) n.

    With score = (D - x) / sigma^2 the drift is 2 d(x, sigma) dsigma, twice the PF-ODE's.
    ``z`` is the noise term ``euler_maruyama_std(t, t_next) * n``. One NFE.
    """
    return x + 2 * (t_next - t) * to_d(x, D(x, t), t) + z


def churn_t_hat(t: float, gamma: float) -> float:
    """EDM Alg. 2 line 5: the raised noise level t_hat = t (1 + gamma)."""
    return t * (1 + gamma)


def edm_gamma(t: float, S_churn: float, num_steps: int, S_min: float, S_max: float) -> float:
    """EDM Alg. 2 line 4: gamma = min(S_churn / N, sqrt(2) - 1) if S_min <= t <= S_max else 0."""
    return min(S_churn / num_steps, math.sqrt(2) - 1) if S_min <= t <= S_max else 0.0


def noise_std(sigma_from: float, sigma_to: float, S_noise: float = 1.0) -> float:
    """Std S_noise sqrt(sigma_to^2 - sigma_from^2) of fresh noise raising the level sigma_from -> sigma_to.

    EDM Alg. 2 line 6 (churn) and the forward jump of Restart (Alg. 2, t_min -> t_max).
    """
    return S_noise * math.sqrt(sigma_to**2 - sigma_from**2)


def ancestral_sigmas(t: float, t_next: float, eta: float = 1.0) -> tuple[float, float]:
    """(sigma_down, sigma_up) of an ancestral step t -> t' (DDPM/DDIM posterior, Song et al. 2021).

    sigma_up = min(t', eta sqrt(t'^2 (t^2 - t'^2) / t^2)), sigma_down = sqrt(t'^2 - sigma_up^2):
    an Euler step to sigma_down followed by fresh noise of std sigma_up lands at level t'.
    """
    if t_next == 0:
        return 0.0, 0.0
    sigma_up = min(t_next, eta * math.sqrt(t_next**2 * (t**2 - t_next**2) / t**2))
    return math.sqrt(t_next**2 - sigma_up**2), sigma_up


#: Denoiser calls of one step of each kind (the functions above). A step to t' = 0 costs one call
#: whatever its kind: Heun's last step is a plain Euler step, DPM-Solver++ returns its x0 and
#: Euler-Maruyama adds no noise there. The plan sums these; the executor checks the calls it made.
STEP_NFE = {"euler": 1, "heun": 2, "dpmpp_2m": 1, "euler_maruyama": 1}


def step_nfe(kind: str, t_next: float) -> int:
    """Denoiser calls of one step of ``kind`` ending at t_next (``STEP_NFE``)."""
    return STEP_NFE[kind] if t_next > 0 else 1
