"""Deterministic probability-flow ODE samplers: Euler, Heun (EDM Alg. 1), DPM-Solver++(2M)."""

from __future__ import annotations

from typing import ClassVar

from .base import Sampler
from .plan import Op, ode_ops


class _ODESampler(Sampler):
    solver: ClassVar[str] = ""

    def build_ops(self, sigmas: list[float]) -> list[Op]:
        return ode_ops(self.solver, sigmas)


class Euler(_ODESampler):
    """Euler integration of the PF-ODE dx/dsigma = (x - D(x; sigma)) / sigma. NFE = N."""

    name: ClassVar[str] = "euler"
    solver: ClassVar[str] = "euler"


class Heun(_ODESampler):
    """EDM Algorithm 1: Heun's 2nd-order method, Euler on the last step to 0. NFE = 2N - 1."""

    name: ClassVar[str] = "heun"
    solver: ClassVar[str] = "heun"


class DPMSolverPP2M(_ODESampler):
    """DPM-Solver++(2M) (Lu et al. 2022): multistep 2nd order, 1st order on the first and last step. NFE = N."""

    name: ClassVar[str] = "dpmpp_2m"
    solver: ClassVar[str] = "dpmpp_2m"
