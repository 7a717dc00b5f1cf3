"""Restart (Xu et al. 2023, Alg. 2): plan, NFE, equivalences, presets and validation."""

import math
from pathlib import Path

import pytest
import torch
import yaml

from restart_lightning.sampling import Heun, Noise, NoiseSource, Restart, RestartInterval, load_sampler_preset

from .toys import Counting, Mixture

PRESETS = sorted((Path(__file__).parents[2] / "configs" / "samplers").glob("restart_*.yaml"))
LATENTS = NoiseSource(range(6)).randn((2,))


def authors_nfe(num_steps, intervals):
    """NFE as the Restart authors count it: (2N - 1) + sum 2 K (N_restart - 1)."""
    return 2 * num_steps - 1 + sum(2 * k * (n_restart - 1) for n_restart, k, _, _ in intervals)


def test_no_rounds_is_heun_bit_for_bit():
    mixture, heun = Mixture(), Heun(num_steps=10)(Mixture(), LATENTS).samples
    for intervals in ([[3, 0, 0.06, 0.3]], [[4, 0, 0.5, 2.0], [3, 0, 0.06, 0.3]]):
        restart = Restart(num_steps=10, restart_intervals=intervals, restart_gamma=0.05)(mixture, LATENTS)
        assert torch.equal(restart.samples, heun) and restart.nfe == 19


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_nfe_equals_authors_formula_plan_and_calls(path):
    config = yaml.safe_load(path.read_text())
    expected = authors_nfe(config["num_steps"], config["restart_intervals"])
    assert path.stem.endswith(f"_nfe{expected}")
    sampler = load_sampler_preset(path)
    assert sampler.plan().nfe == expected
    denoiser = Counting(Mixture(), dtype=torch.float64)
    result = sampler(denoiser, LATENTS)
    assert result.nfe == denoiser.calls == result.plan.nfe == expected


def test_nfe_per_call_multiplies_reported_nfe():
    denoiser = Counting(Mixture(), nfe_per_call=2)
    result = Restart(num_steps=8, restart_intervals=[[3, 2, 0.1, 0.5]])(denoiser, LATENTS)
    assert denoiser.calls == authors_nfe(8, [[3, 2, 0, 0]]) and result.nfe == 2 * denoiser.calls


def test_jump_at_snapped_t_min_with_one_draw_per_round():
    sampler = Restart(num_steps=18, restart_intervals=[[3, 2, 0.14, 0.30]], S_noise=1.003)
    grid = sampler.sigmas().tolist()
    snapped = min(grid, key=lambda s: abs(s - 0.14))
    jumps = [op for op in sampler.plan().ops if isinstance(op, Noise)]
    assert len(jumps) == 2
    for op in jumps:
        assert (op.sigma_from, op.sigma_to) == (snapped, 0.30)
        assert op.std == pytest.approx(1.003 * math.sqrt(0.30**2 - snapped**2), rel=1e-15)
    ops = sampler.plan().ops
    first = ops.index(jumps[0])
    backward = [(op.sigma_from, op.sigma_to) for op in ops[first + 1 : first + 3]]
    middle = (0.30 ** (1 / 7) + 0.5 * (snapped ** (1 / 7) - 0.30 ** (1 / 7))) ** 7  # EDM rho=7 grid, 3 points
    assert backward[0][0] == 0.30 and backward[1][1] == snapped
    assert backward[0][1] == pytest.approx(middle, rel=1e-14) and backward[1][0] == backward[0][1]
    assert ops[first - 1].sigma_to == snapped and ops[first - 1].phase == "main"


def test_intervals_run_in_main_pass_order_whatever_their_list_order():
    a = Restart(num_steps=18, restart_intervals=[[3, 1, 0.06, 0.3], [4, 2, 1.0, 2.0]]).plan()
    b = Restart(num_steps=18, restart_intervals=[[4, 2, 1.0, 2.0], [3, 1, 0.06, 0.3]]).plan()
    assert [op.sigma_from for op in a.ops] == [op.sigma_from for op in b.ops] and a.nfe == b.nfe


def test_restart_churn_only_inside_backward_steps_and_range():
    plan = Restart(num_steps=18, restart_intervals=[[4, 2, 0.06, 2.0]], restart_gamma=0.05).plan()
    churn = [op for op in plan.ops if isinstance(op, Noise) and op.sigma_to != 2.0]
    assert churn and all(op.phase.startswith("restart") and 0.01 <= op.sigma_from <= 1.0 for op in churn)
    assert all(op.sigma_to == pytest.approx(1.05 * op.sigma_from) for op in churn)
    assert plan.nfe == authors_nfe(18, [[4, 2, 0, 0]])


def test_multistep_restart_solver_restarts_history_after_each_jump():
    plan = Restart(num_steps=10, restart_intervals=[[4, 2, 0.1, 0.5]], restart_solver="dpmpp_2m").plan()
    ops = plan.ops
    for i, op in enumerate(ops):
        if op.phase.startswith("restart") and op.kind == "dpmpp_2m":
            assert op.history == (ops[i - 1].kind == "dpmpp_2m")
    assert plan.nfe == 19 + 2 * 3
    result = Restart(num_steps=10, restart_intervals=[[4, 2, 0.1, 0.5]], restart_solver="dpmpp_2m")(Mixture(), LATENTS)
    assert torch.isfinite(result.samples).all() and result.nfe == 25


def test_no_intervals_is_refused_rather_than_run_as_heun():
    for options in ({}, {"restart_intervals": []}):
        with pytest.raises(ValueError, match=r"restart_intervals = \[\] is invalid; allowed: at least one"):
            Restart(num_steps=18, **options)


@pytest.mark.parametrize(
    "intervals, message",
    [
        ([[3, 2, 0.14, 0.3], [3, 2, 0.06, 0.2]], r"restart_intervals\[1\] = \[t_min 0.06, t_max 0.2\] overlaps"),
        ([[3, 2, 0.3, 0.3]], r"restart_intervals\[0\].t_min = 0.3 is invalid; allowed: 0 < t_min < t_max"),
        ([[1, 2, 0.1, 0.3]], r"restart_intervals\[0\].N_restart = 1 is invalid; allowed: an int in \[2, 100000\]"),
        ([[3, -1, 0.1, 0.3]], r"restart_intervals\[0\].K = -1 is invalid; allowed: an int in \[0, 100000\]"),
        ([[3, 2.5, 0.1, 0.3]], r"restart_intervals\[0\].K = 2.5 is invalid; allowed: an integer"),
        ([[3, 1, 0.1, 0.3], [3, 1, 10, 100]], r"restart_intervals\[1\].t_max = 100.0 is invalid; allowed: <= sigma_m"),
        ([[3, 1, 1e-4, 0.001]], r"restart_intervals\[0\].t_min = 0.0001 is invalid; allowed: a value snapping"),
        ([[3, 1, 0.62, 0.9], [3, 1, 0.56, 0.62]], r"restart_intervals\[1\].t_min = 0.56 snaps to main-schedule sigma"),
        ([[3, 1, 0.3]], r"restart_intervals\[0\] = \[3, 1, 0.3\] is invalid; allowed: \[N_restart, K, t_min, t_max\]"),
    ],
)
def test_bad_intervals_name_the_field(intervals, message):
    with pytest.raises(ValueError, match=message):
        Restart(num_steps=18, restart_intervals=intervals)


def test_t_max_checked_against_the_denoisers_range_and_other_options():
    sampler = Restart(num_steps=18, restart_intervals=[[3, 1, 19.35, 40.79]])
    with pytest.raises(ValueError, match=r"restart_intervals\[0\].t_max = 40.79 is invalid"):
        sampler.plan(sigma_max=30.0)
    with pytest.raises(ValueError, match="restart_solver = 'rk4' is invalid; allowed: one of euler, heun, dpmpp_2m"):
        Restart(restart_solver="rk4")
    parsed = RestartInterval.parse({"N_restart": 3, "K": 2, "t_min": 0.1, "t_max": 0.3})
    assert parsed == RestartInterval(3, 2, 0.1, 0.3)
