"""Search spaces: every proposed spec builds, spends at most the budget (as planned), follows the model."""

import math

import optuna
import pytest

from restart_lightning.sampling import build_sampler
from restart_lightning.tuning.spaces import FAMILIES, MIN_NFE, ModelContext, search_space

optuna.logging.set_verbosity(optuna.logging.WARNING)
TOY = ModelContext(sigma_min=0.002, sigma_max=80.0, sigma_data=1.4, band=(0.05, 0.3))


def proposals(family, budget, context=TOY, count=25, seed=0):
    space = search_space(family, budget, context)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs = []
    for _ in range(count):
        trial = study.ask()
        specs.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return space, specs


@pytest.mark.parametrize("family", FAMILIES)
def test_every_spec_is_within_budget_over_many_budgets(family):
    for budget in sorted({MIN_NFE[family], 6, 11, 19, 35, 50, 99, 200, 511}):
        if budget < MIN_NFE[family]:
            continue
        _, specs = proposals(family, budget, count=15 if family == "restart" else 4, seed=budget)
        for spec in specs:
            plan = build_sampler(**spec).plan(sigma_min=TOY.sigma_min, sigma_max=TOY.sigma_max)
            assert plan.nfe <= budget, (budget, spec)


def test_restart_uses_the_budget_well_but_need_not_fill_it():
    space, specs = proposals("restart", 100, count=40)
    nfes = [space.nfe(s) for s in specs]
    assert max(nfes) <= 100 and min(nfes) < 100  # leftover NFE is allowed
    assert sum(nfes) / len(nfes) > 70  # the main steps and the rounds share most of it
    assert any(len(s["restart_intervals"]) > 1 for s in specs)  # several intervals are tried
    assert any(s["restart_gamma"] > 0 for s in specs) and any(s["restart_gamma"] == 0 for s in specs)


def test_restart_intervals_lie_below_inside_and_around_the_band_and_snap_to_the_grid():
    _, specs = proposals("restart", 200, count=60)
    tops = [s["restart_intervals"][0][3] for s in specs]
    low, high = TOY.band
    assert any(t < low for t in tops) and any(low <= t <= high for t in tops) and any(t > high for t in tops)
    assert max(iv[3] for s in specs for iv in s["restart_intervals"]) <= TOY.restart_zone()[1]
    for spec in specs:
        grid = build_sampler("heun", num_steps=spec["num_steps"]).sigmas().tolist()
        for n_restart, k, t_min, t_max in spec["restart_intervals"]:
            assert k >= 1 and 2 <= n_restart and t_min < t_max
            assert min(abs(t_min - s) for s in grid) < 1e-5 * t_min  # t_min is written where it runs


def test_the_zone_follows_the_model():
    images = ModelContext(sigma_min=0.002, sigma_max=80.0, sigma_data=0.5, band=(0.5, 5.0))
    _, specs = proposals("restart", 100, images, count=30)
    assert max(iv[3] for s in specs for iv in s["restart_intervals"]) > 5.0  # above the band
    guessed = ModelContext(0.002, 80.0, 1.4)  # no diagnostic: a band from sigma_data
    assert guessed.error_band() == pytest.approx((0.042, 0.42))


def test_edm_sde_ranges_are_broad():
    _, specs = proposals("edm_sde", 50, count=60)
    s_min = [s["S_min"] for s in specs]
    assert min(s_min) < 0.005 and max(s_min) > 0.5
    assert all(s["S_max"] > s["S_min"] for s in specs)
    assert all(s["num_steps"] == 25 for s in specs)
    gammas = [min(s["S_churn"] / s["num_steps"], math.sqrt(2) - 1) for s in specs]
    assert min(gammas) < 0.03 and max(gammas) > 0.2


@pytest.mark.parametrize(("family", "budget", "message"), [
    ("ddim", 50, "family: unknown value 'ddim'; allowed: restart, edm_sde"),
    ("restart", 4, "budgets: 4 is below the smallest NFE of restart (5); allowed: integers >= 5"),
    ("heun", 0, "budgets: 0 is below the smallest NFE of heun (1)"),
])
def test_bad_input_is_one_line_naming_the_field(family, budget, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        search_space(family, budget, TOY)
