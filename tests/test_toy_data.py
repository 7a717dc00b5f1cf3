"""The toy distributions: exact log-density and exact denoiser against independent computations."""

import math

import pytest
import torch

from restart_lightning.data import ToyDataModule, grid_mixture, ring_mixture, sample_toy
from restart_lightning.data.toy import GaussianMixture


@pytest.mark.parametrize("make", [grid_mixture, ring_mixture])
def test_log_density_integrates_to_one(make):
    mixture = make()
    lim, n = 4.0, 801  # the components' std is 0.05, so a fine grid is needed
    axis = torch.linspace(-lim, lim, n, dtype=torch.float64)
    points = torch.cartesian_prod(axis, axis)
    cell = (axis[1] - axis[0]) ** 2
    assert float(mixture.log_prob(points).exp().sum() * cell) == pytest.approx(1.0, abs=1e-3)


def test_log_density_of_one_gaussian():
    g = GaussianMixture(torch.tensor([[1.0, -2.0]]), std=0.7)
    x = torch.tensor([[0.3, 0.4]], dtype=torch.float64)
    expected = -((0.7**2 + 2.4**2) / (2 * 0.49)) - math.log(2 * math.pi * 0.49)
    assert float(g.log_prob(x)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 3.0])
def test_exact_denoiser_matches_monte_carlo_posterior_mean(sigma):
    """E[y | x] by importance weighting prior samples with the likelihood N(x; y, sigma^2 I)."""
    mixture = ring_mixture(num_modes=4, radius=1.0, std=0.3)
    g = torch.Generator().manual_seed(0)
    y = mixture.sample(400_000, g)
    x = torch.tensor([[0.2, 0.1], [1.0, 0.9], [-0.5, 0.0]], dtype=torch.float64)
    log_w = -((x[:, None, :] - y[None]) ** 2).sum(-1) / (2 * sigma**2)
    w = torch.softmax(log_w, dim=1)
    monte_carlo = w @ y
    exact = mixture.denoise(x, torch.full((3,), sigma, dtype=torch.float64))
    assert torch.allclose(exact, monte_carlo, atol=0.02)


def test_denoiser_limits():
    mixture = grid_mixture()
    x = torch.tensor([[0.31, -1.02]], dtype=torch.float64)
    # Tiny noise: the denoiser leaves x almost unchanged. Huge noise: it returns the data mean.
    assert torch.allclose(mixture.denoise(x, 1e-4), x, atol=1e-4)
    assert torch.allclose(mixture.denoise(x, 1e4), torch.zeros(1, 2, dtype=torch.float64), atol=1e-3)


def test_exact_denoiser_sigma_data():
    assert grid_mixture().denoiser().sigma_data == pytest.approx(math.sqrt(2 + 0.05**2))


@pytest.mark.parametrize("name", ["grid", "ring", "moons", "checkerboard"])
def test_samples_are_seeded(name):
    a = sample_toy(name, 100, torch.Generator().manual_seed(3))
    b = sample_toy(name, 100, torch.Generator().manual_seed(3))
    assert a.shape == (100, 2) and torch.equal(a, b) and torch.isfinite(a).all()


def test_unknown_distribution_names_allowed_values():
    with pytest.raises(ValueError, match="allowed values: grid, ring, moons, checkerboard"):
        ToyDataModule(name="spiral")


def test_train_stream_resumes_at_the_consumed_position():
    dm = ToyDataModule(name="moons", batch_size=8, steps_per_epoch=5)
    stream = dm.train_dataloader()
    first = list(stream)
    for _ in range(3):
        stream.mark_consumed()
    resumed = ToyDataModule(name="moons", batch_size=8, steps_per_epoch=5).train_dataloader()
    resumed.load_state_dict(stream.state_dict())
    assert torch.equal(next(iter(resumed)), first[3])
