"""Preconditioning coefficients against values computed by hand from EDM's Table 1."""

import math

import pytest
import torch

from restart_lightning.preconditioning import (
    Denoiser,
    EDMPreconditioning,
    VEPreconditioning,
    VPPreconditioning,
    build_preconditioning,
)

SIGMAS = [0.002, 0.05, 0.5, 1.0, 7.3, 80.0]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_edm_scalings(sigma):
    sd = 0.5
    s = EDMPreconditioning(sd).scalings(torch.tensor(sigma, dtype=torch.float64))
    assert float(s.c_skip) == pytest.approx(sd**2 / (sigma**2 + sd**2), rel=1e-12)
    assert float(s.c_out) == pytest.approx(sigma * sd / math.sqrt(sigma**2 + sd**2), rel=1e-12)
    assert float(s.c_in) == pytest.approx(1 / math.sqrt(sigma**2 + sd**2), rel=1e-12)
    assert float(s.c_noise) == pytest.approx(math.log(sigma) / 4, rel=1e-12)


def test_edm_known_values():
    s = EDMPreconditioning(0.5).scalings(torch.tensor(0.5, dtype=torch.float64))
    assert float(s.c_skip) == pytest.approx(0.5)
    assert float(s.c_out) == pytest.approx(0.3535533905932738)
    assert float(s.c_in) == pytest.approx(1.4142135623730951)
    assert float(s.c_noise) == pytest.approx(-0.17328679513998632)


@pytest.mark.parametrize("sigma", SIGMAS[1:])
def test_vp_scalings(sigma):
    vp = VPPreconditioning()
    s = vp.scalings(torch.tensor(sigma, dtype=torch.float64))
    # t(sigma) solves beta_d t^2 / 2 + beta_min t = ln(1 + sigma^2): the quadratic formula.
    t = (-0.1 + math.sqrt(0.1**2 + 2 * 19.9 * math.log(1 + sigma**2))) / 19.9
    assert float(s.c_skip) == 1.0
    assert float(s.c_out) == pytest.approx(-sigma)
    assert float(s.c_in) == pytest.approx(1 / math.sqrt(sigma**2 + 1))
    assert float(s.c_noise) == pytest.approx(999 * t, rel=1e-10)


def test_vp_range():
    vp = VPPreconditioning()
    assert vp.sigma_max == pytest.approx(math.sqrt(math.exp(19.9 / 2 + 0.1) - 1), rel=1e-12)
    assert vp.sigma_min == pytest.approx(math.sqrt(math.exp(19.9 / 2 * 1e-10 + 0.1 * 1e-5) - 1), rel=1e-9)
    t = torch.linspace(1e-5, 1, 11, dtype=torch.float64)
    assert torch.allclose(vp.t(vp.sigma(t)), t, rtol=1e-9)


@pytest.mark.parametrize("sigma", [0.02, 0.3, 5.0, 100.0])
def test_ve_scalings(sigma):
    ve = VEPreconditioning()
    s = ve.scalings(torch.tensor(sigma, dtype=torch.float64))
    assert (float(s.c_skip), float(s.c_in)) == (1.0, 1.0)
    assert float(s.c_out) == pytest.approx(sigma)
    assert float(s.c_noise) == pytest.approx(math.log(sigma / 2))
    assert (ve.sigma_min, ve.sigma_max) == (0.02, 100.0)


def test_edm_unbounded_range():
    edm = EDMPreconditioning()
    assert edm.sigma_min == 0 and edm.sigma_max == math.inf


class Recorder(torch.nn.Module):
    """A network that returns a fixed function of its inputs and remembers them."""

    def forward(self, x_in, c_noise, labels=None):
        self.seen = (x_in, c_noise, labels)
        return 3.0 * x_in + c_noise.reshape(-1, *[1] * (x_in.ndim - 1))


def test_denoiser_composes_the_formula():
    net = Recorder()
    d = Denoiser(net, EDMPreconditioning(0.5))
    x = torch.randn(4, 2, dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.5, 2.0, 10.0], dtype=torch.float64)
    out = d(x, sigma)
    sd = 0.5
    for i, s in enumerate(sigma.tolist()):
        c_skip, c_out, c_in = sd**2 / (s**2 + sd**2), s * sd / math.sqrt(s**2 + sd**2), 1 / math.sqrt(s**2 + sd**2)
        expected = c_skip * x[i] + c_out * (3 * c_in * x[i] + math.log(s) / 4)
        assert torch.allclose(out[i], expected, atol=1e-12)
    assert d.sigma_min == 0.0 and d.sigma_data == 0.5


def test_denoiser_accepts_scalar_sigma_and_images():
    d = Denoiser(Recorder(), VEPreconditioning())
    x = torch.randn(3, 1, 4, 4)
    assert d(x, 0.5).shape == x.shape
    assert torch.allclose(d.net.seen[1], torch.full((3,), math.log(0.25)))


def test_unknown_preconditioning_names_allowed_values():
    with pytest.raises(ValueError, match="allowed values: edm, vp, ve"):
        build_preconditioning("ddim")
