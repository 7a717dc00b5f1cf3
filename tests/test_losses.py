"""Loss weights and sigma distributions (EDM Table 1), and that the exact denoiser is optimal."""

import math

import pytest
import torch

from restart_lightning.data.toy import grid_mixture
from restart_lightning.losses import EDMLoss, VELoss, VPLoss, build_loss
from restart_lightning.preconditioning import EDMPreconditioning, VPPreconditioning


@pytest.mark.parametrize("sigma_data", [0.5, 1.4])
def test_edm_weight_is_inverse_c_out_squared(sigma_data):
    sigma = torch.logspace(-3, 2, 50, dtype=torch.float64)
    c_out = EDMPreconditioning(sigma_data).scalings(sigma).c_out
    assert torch.allclose(EDMLoss(sigma_data).weight(sigma), c_out.pow(-2), rtol=1e-12)


def test_edm_sigma_is_log_normal():
    g = torch.Generator().manual_seed(0)
    log_sigma = EDMLoss().sample_sigma(200_000, generator=g).log()
    assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.01)
    assert float(log_sigma.std()) == pytest.approx(1.2, abs=0.01)


def test_vp_sigma_is_sigma_of_uniform_t():
    g = torch.Generator().manual_seed(0)
    sigma = VPLoss().sample_sigma(100_000, generator=g).double()
    t = VPPreconditioning().t(sigma)
    assert float(t.min()) >= 1e-5 - 1e-7 and float(t.max()) <= 1 + 1e-6
    assert float(t.mean()) == pytest.approx((1 + 1e-5) / 2, abs=0.005)
    assert torch.allclose(VPLoss().weight(sigma), 1 / sigma**2)


def test_ve_sigma_is_log_uniform():
    g = torch.Generator().manual_seed(0)
    log_sigma = VELoss().sample_sigma(100_000, generator=g).double().log()
    lo, hi = math.log(0.02), math.log(100)
    assert float(log_sigma.min()) >= lo - 1e-6 and float(log_sigma.max()) <= hi + 1e-6
    assert float(log_sigma.mean()) == pytest.approx((lo + hi) / 2, abs=0.02)


def test_unknown_loss_names_allowed_values():
    with pytest.raises(ValueError, match="allowed values: edm, vp, ve"):
        build_loss("l1")


@pytest.mark.parametrize("name", ["edm", "vp", "ve"])
def test_exact_denoiser_has_the_lowest_loss(name):
    """E[y | x] minimises the squared error at every sigma, so every perturbation raises the loss."""
    mixture = grid_mixture()
    exact = mixture.denoiser()
    loss = build_loss(name, sigma_data=1.4)
    y = mixture.sample(20_000, torch.Generator().manual_seed(1))

    def mean_loss(denoiser):
        per_sample, _ = loss(denoiser, y, generator=torch.Generator().manual_seed(2))
        return float(per_sample.mean())

    best = mean_loss(exact)
    for scale in (0.9, 1.1):
        assert mean_loss(lambda x, s, labels=None, scale=scale: scale * exact(x, s)) > best
    assert mean_loss(lambda x, s, labels=None: exact(x, s) + 0.05) > best
