"""Stochastic samplers: EDM Algorithm 2, Euler-Maruyama on the reverse SDE, Euler ancestral."""

from __future__ import annotations

import math
from typing import ClassVar, Optional

from .base import Sampler, check_option, is_finite, is_real
from .plan import Noise, Op, Step, ode_ops
from .steps import ancestral_sigmas, edm_gamma, euler_maruyama_std


class EDMStochastic(Sampler):
    """EDM Algorithm 2: churn then a Heun step. NFE = 2N - 1.

    Where S_min <= t_i <= S_max the level is raised to t_hat = t_i (1 + gamma),
    gamma = min(S_churn / N, sqrt(2) - 1), by fresh noise of std S_noise sqrt(t_hat^2 - t_i^2);
    then Heun from t_hat to t_{i+1}. Noise is drawn only where it is injected.
    """

    name: ClassVar[str] = "edm_sde"

    def __init__(
        self,
        num_steps: int = 18,
        S_churn: float = 0.0,
        S_min: float = 0.0,
        S_max: float = math.inf,
        S_noise: float = 1.0,
        schedule: str = "edm",
        sigma_min: Optional[float] = None,
        sigma_max: Optional[float] = None,
        rho: float = 7.0,
    ) -> None:
        self.S_churn, self.S_min, self.S_max, self.S_noise = S_churn, S_min, S_max, S_noise
        super().__init__(num_steps, schedule, sigma_min, sigma_max, rho)

    def validate(self) -> None:
        check_option("S_churn", self.S_churn, is_finite(self.S_churn) and self.S_churn >= 0, "a finite number >= 0")
        check_option("S_min", self.S_min, is_finite(self.S_min) and self.S_min >= 0, "a finite number >= 0")
        check_option("S_max", self.S_max, is_real(self.S_max) and self.S_max >= self.S_min,
                     f"a number >= S_min (= {self.S_min}), inf allowed")
        check_option("S_noise", self.S_noise, is_finite(self.S_noise) and self.S_noise >= 0, "a finite number >= 0")

    def build_ops(self, sigmas: list[float]) -> list[Op]:
        def gamma(t: float) -> float:
            return edm_gamma(t, self.S_churn, self.num_steps, self.S_min, self.S_max)

        return ode_ops("heun", sigmas, gamma=gamma, S_noise=self.S_noise)


class EulerMaruyama(Sampler):
    """Euler-Maruyama on the reverse SDE dx = -2 sigma score dsigma + sqrt(2 sigma |dsigma|) n. NFE = N.

    The last step, to sigma = 0, is a deterministic Euler step (x <- D(x; sigma_{N-1})).
    """

    name: ClassVar[str] = "euler_maruyama"

    def build_ops(self, sigmas: list[float]) -> list[Op]:
        return [
            Step("euler_maruyama", t, t_next, noise_std=euler_maruyama_std(t, t_next))
            if t_next > 0
            else Step("euler", t, t_next)
            for t, t_next in zip(sigmas[:-1], sigmas[1:])
        ]


class EulerAncestral(Sampler):
    """Euler ancestral: an Euler step to sigma_down, then fresh noise S_noise * sigma_up back up to t'. NFE = N.

    eta = 1 is the DDPM posterior, eta = 0 the Euler ODE sampler (see ``steps.ancestral_sigmas``).
    """

    name: ClassVar[str] = "euler_ancestral"

    def __init__(
        self,
        num_steps: int = 18,
        eta: float = 1.0,
        S_noise: float = 1.0,
        schedule: str = "edm",
        sigma_min: Optional[float] = None,
        sigma_max: Optional[float] = None,
        rho: float = 7.0,
    ) -> None:
        self.eta, self.S_noise = eta, S_noise
        super().__init__(num_steps, schedule, sigma_min, sigma_max, rho)

    def validate(self) -> None:
        check_option("eta", self.eta, is_finite(self.eta) and self.eta >= 0, "a finite number >= 0")
        check_option("S_noise", self.S_noise, is_finite(self.S_noise) and self.S_noise >= 0, "a finite number >= 0")

    def build_ops(self, sigmas: list[float]) -> list[Op]:
        ops: list[Op] = []
        for t, t_next in zip(sigmas[:-1], sigmas[1:]):
            sigma_down, sigma_up = ancestral_sigmas(t, t_next, self.eta)
            ops.append(Step("euler", t, sigma_down))
            if sigma_up > 0:
                ops.append(Noise(sigma_down, t_next, self.S_noise * sigma_up))
        return ops
