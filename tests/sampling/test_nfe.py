"""NFE accounting: each step kind's declared calls are the calls its step function makes."""

import pytest
import torch

from restart_lightning.sampling import Plan, Step
from restart_lightning.sampling.execute import run_plan
from restart_lightning.sampling.steps import STEP_NFE


class Counting:
    dtype = torch.float64

    def __init__(self):
        self.calls = 0

    def __call__(self, x, sigma, labels=None):
        self.calls += 1
        return 0.9 * x


@pytest.mark.parametrize("kind", list(STEP_NFE))
@pytest.mark.parametrize("sigma_to", [0.5, 0.0])
def test_a_step_costs_the_calls_it_declares(kind, sigma_to):
    if kind == "euler_maruyama" and sigma_to == 0:
        pytest.skip("samplers end Euler-Maruyama with a plain Euler step to 0 (sde.py)")
    noisy = kind == "euler_maruyama"
    step = Step(kind, 1.0, sigma_to, noise_std=0.3 if noisy else 0.0)
    denoiser, x = Counting(), torch.ones(2, 3, dtype=torch.float64)
    run_plan(Plan("test", (step,)), denoiser, x, [torch.zeros(2, 3, dtype=torch.float64)] if noisy else [],
             model_dtype=torch.float64)
    assert denoiser.calls == step.nfe == (STEP_NFE[kind] if sigma_to > 0 else 1)


def test_the_plan_sums_its_steps_and_scales_by_the_calls_cost():
    ops = (Step("heun", 2.0, 1.0), Step("heun", 1.0, 0.0), Step("euler", 2.0, 1.0))
    plan = Plan("test", ops, nfe_per_call=2)
    assert plan.calls == 2 + 1 + 1 and plan.nfe == 8


def test_the_executor_runs_every_kind_of_op():
    from restart_lightning.sampling.execute import RUNNERS

    assert set(RUNNERS) == {*STEP_NFE, "noise"}
