"""The error profile: closed-form loss of an exact Gaussian denoiser, fixed noise, and the error band."""

from __future__ import annotations

import math

import pytest
import torch

from restart_lightning.data.toy import GaussianMixture
from restart_lightning.losses import EDMLoss
from restart_lightning.tuning import ErrorProfile, default_sigma_grid, error_band, measure_error_profile


def test_exact_gaussian_denoiser_matches_closed_form():
    # N(mu, s^2 I): the posterior mean's MSE per dimension is sigma^2 s^2 / (sigma^2 + s^2); times EDM's
    # training weight (sigma^2 + sd^2) / (sigma sd)^2, written out here rather than taken from the loss.
    mu, s, sd = torch.tensor([[0.3, -0.7]]), 0.4, 1.4
    gaussian = GaussianMixture(mu, s)
    data = gaussian.sample(20_000, torch.Generator().manual_seed(5))
    sigmas = default_sigma_grid(0.01, 20.0, 7)
    profile = measure_error_profile(gaussian.denoiser(), EDMLoss(sigma_data=sd).weight, data, sigmas=sigmas,
                                    seed=3, exact=gaussian.denoiser())
    for sigma, loss, stderr in zip(profile.sigmas, profile.loss, profile.stderr):
        expected = sigma**2 * s**2 / (sigma**2 + s**2) * (sigma**2 + sd**2) / (sigma * sd) ** 2
        assert abs(loss - expected) < 4 * stderr, (sigma, loss, expected, stderr)
        assert stderr < 0.02 * expected
    assert max(map(abs, profile.excess())) < 1e-6  # the same denoiser on the same noise (float32 input)
    assert profile.num_samples == 20_000


def test_fixed_noise_makes_profiles_comparable():
    gaussian = GaussianMixture(torch.zeros(1, 2), 0.5)
    data = gaussian.sample(300, torch.Generator().manual_seed(0))
    weight = EDMLoss(sigma_data=0.5).weight
    grid = default_sigma_grid(0.1, 1.0, 3)

    def shrunk(x, sigma, labels=None):
        return 0.9 * gaussian.denoise(x, sigma)

    first = measure_error_profile(shrunk, weight, data, sigmas=grid, seed=1, batch_size=128, noise_per_point=2)
    again = measure_error_profile(shrunk, weight, data, sigmas=grid, seed=1, batch_size=128, noise_per_point=2)
    other = measure_error_profile(shrunk, weight, data, sigmas=grid, seed=2, batch_size=128, noise_per_point=2)
    assert first == again and first.loss != other.loss
    assert first.num_samples == 600


def _bump_profile(center: float, width: float) -> ErrorProfile:
    sigmas = default_sigma_grid(0.002, 80.0, 61)
    exact = [1.0] * len(sigmas)
    loss = [1.0 + math.exp(-0.5 * ((math.log(s) - math.log(center)) / width) ** 2) for s in sigmas]
    return ErrorProfile(sigmas=sigmas, loss=loss, stderr=[0.0] * len(sigmas), exact_loss=exact, num_samples=1)


def test_error_band_finds_a_known_bump():
    profile = _bump_profile(center=0.15, width=0.4)
    lo, hi = error_band(profile, 0.8)
    # a Gaussian bump in log-sigma holds 80% of its mass within +-1.28 widths of its centre
    assert math.log(lo) == pytest.approx(math.log(0.15) - 1.2816 * 0.4, abs=0.2)
    assert math.log(hi) == pytest.approx(math.log(0.15) + 1.2816 * 0.4, abs=0.2)
    assert sum(profile.shares()) == pytest.approx(1.0)
    wider = profile.error_band(0.95)
    assert wider[0] <= lo and wider[1] >= hi


def test_error_band_without_excess_is_the_whole_grid_and_bad_input_is_named():
    profile = _bump_profile(0.15, 0.4)
    flat = ErrorProfile(profile.sigmas, profile.exact_loss, profile.stderr, profile.exact_loss, 1)
    assert flat.error_band() == (profile.sigmas[0], profile.sigmas[-1])
    with pytest.raises(ValueError, match="share"):
        profile.error_band(0.0)
    with pytest.raises(ValueError, match="num"):
        default_sigma_grid(0.1, 1.0, 1)
    with pytest.raises(ValueError, match="sigma_min"):
        default_sigma_grid(1.0, 0.1)
