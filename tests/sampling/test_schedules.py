import math

import pytest
import torch

from restart_lightning.sampling.schedules import (
    VP_EPSILON_S,
    get_sigmas,
    karras_sigmas,
    loglinear_sigmas,
    ve_sigmas,
    vp_sigma,
    vp_sigmas,
)


@pytest.mark.parametrize("schedule", ["edm", "vp", "ve", "loglinear"])
def test_grid_shape_dtype_and_order(schedule):
    sigmas = get_sigmas(schedule, 10)
    assert sigmas.dtype == torch.float64 and sigmas.shape == (11,)
    assert sigmas[-1] == 0 and (sigmas[:-1] > 0).all()
    assert (sigmas[1:] < sigmas[:-1]).all()


def test_karras_matches_edm_eq5():
    n, rho = 18, 7.0
    sigmas = karras_sigmas(n)
    for i in (0, 5, 17):
        expected = (80 ** (1 / rho) + i / (n - 1) * (0.002 ** (1 / rho) - 80 ** (1 / rho))) ** rho
        assert sigmas[i].item() == pytest.approx(expected, rel=1e-14)
    assert sigmas[0] == 80 and sigmas[-2] == 0.002


def test_endpoints_clamped_to_valid_range():
    sigmas = karras_sigmas(8, 0.002, 80, valid_min=0.01, valid_max=50)
    assert sigmas[0] == 50 and sigmas[-2] == 0.01
    assert get_sigmas("ve", 8, valid_max=60)[0] == 60


def test_vp_default_range_reproduces_standard_betas():
    # With the default endpoints the refitted beta_d, beta_min are 19.9 and 0.1 again.
    n = 12
    sigmas = vp_sigmas(n)
    t = 1 + torch.arange(n, dtype=torch.float64) / (n - 1) * (VP_EPSILON_S - 1)
    expected = torch.sqrt(torch.expm1(0.5 * 19.9 * t**2 + 0.1 * t))
    torch.testing.assert_close(sigmas[:-1], expected, rtol=1e-12, atol=0)
    assert vp_sigma(1.0) == pytest.approx(152.0, rel=1e-2)


def test_vp_clamped_range_hits_endpoints():
    sigmas = vp_sigmas(10, valid_min=0.02, valid_max=80)
    assert sigmas[0] == 80 and sigmas[-2] == 0.02


def test_ve_and_loglinear_are_geometric():
    ve, ll = ve_sigmas(9), loglinear_sigmas(9, 0.02, 100)
    ratios = ve[1:-1] / ve[:-2]
    torch.testing.assert_close(ratios, torch.full_like(ratios, (0.02 / 100) ** (1 / 8)), rtol=1e-12, atol=0)
    torch.testing.assert_close(ve, ll, rtol=1e-12, atol=0)
    assert ve[0] == 100 and ve[-2] == 0.02


def test_single_step_and_errors():
    assert get_sigmas("edm", 1).tolist() == [80.0, 0.0]
    with pytest.raises(ValueError, match="schedule: unknown value 'cosine'"):
        get_sigmas("cosine", 4)
    with pytest.raises(ValueError, match="num_steps"):
        karras_sigmas(0)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        karras_sigmas(4, valid_min=100.0)
    assert math.isclose(get_sigmas("edm", 4, rho=1.0)[1].item(), 80 - (80 - 0.002) / 3)
