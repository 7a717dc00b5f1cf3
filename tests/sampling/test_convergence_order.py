"""Order of the ODE steps against the closed-form PF-ODE flow of Gaussian data."""

import numpy as np
import pytest
import torch

from restart_lightning.sampling import Euler, Heun, karras_sigmas
from restart_lightning.sampling.execute import run_plan
from restart_lightning.sampling.noise import NoiseSource
from restart_lightning.sampling.plan import Plan, ode_ops

from .toys import GaussianData

DATA = GaussianData(s=0.5)
X_T = 80 * torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _relative_error(solver: str, n: int, sigma_end: float = 0.05) -> float:
    grid = karras_sigmas(n, sigma_end, 80.0)[:-1].tolist()  # ends at a positive sigma
    plan = Plan(solver, tuple(ode_ops(solver, grid)))
    x = run_plan(plan, DATA, X_T.clone(), NoiseSource(range(8)).injections((3,), 0), model_dtype=torch.float64)
    exact = DATA.flow(X_T, 80.0, sigma_end)
    return float((x - exact).abs().max() / exact.abs().max())


@pytest.mark.parametrize("solver, order", [("euler", 1), ("heun", 2), ("dpmpp_2m", 2)])
def test_observed_order(solver, order):
    ns = [16, 32, 64, 128]
    errors = [_relative_error(solver, n) for n in ns]
    slope = np.polyfit(np.log(ns), np.log(errors), 1)[0]
    assert -slope == pytest.approx(order, abs=0.3), errors


@pytest.mark.parametrize("sampler_cls, tolerance", [(Euler, 0.05), (Heun, 2e-3)])
def test_full_solve_converges_to_exact_samples(sampler_cls, tolerance):
    errors = []
    for n in (8, 32, 128):
        result = sampler_cls(num_steps=n)(DATA, X_T / 80)
        exact = DATA.flow(X_T, 80.0, 0.0)
        errors.append(float((result.samples - exact).abs().max()))
    assert errors[0] > errors[1] > errors[2] and errors[2] < tolerance, errors
