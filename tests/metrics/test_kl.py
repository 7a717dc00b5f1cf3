"""KL(q || p) = exact NLL - kNN entropy against closed forms (Gaussians)."""

import math

import pytest
import torch

from restart_lightning.metrics import KLDivergence, knn_entropy


def gaussian_log_prob(std: float):
    def log_prob(x):
        d = x.shape[1]
        return -0.5 * (x.double() / std).square().sum(1) - d * math.log(std) - 0.5 * d * math.log(2 * math.pi)

    return log_prob


def draw(n: int, std: float, seed: int = 0) -> torch.Tensor:
    return std * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_entropy_of_a_gaussian():
    # H(N(0, s^2 I_2)) = 1 + ln(2 pi s^2)
    assert knn_entropy(draw(4000, 0.7)) == pytest.approx(1 + math.log(2 * math.pi * 0.49), abs=0.05)


def test_kl_is_zero_when_samples_follow_the_density():
    metric = KLDivergence(gaussian_log_prob(1.0))
    for chunk in torch.split(draw(4000, 1.0), 1000):  # several updates, like batches
        metric.update(chunk)
    assert float(metric.compute()) == pytest.approx(0.0, abs=0.05)


def test_kl_of_two_gaussians():
    # KL(N(0, s^2 I_d) || N(0, I_d)) = d/2 (s^2 - 1 - ln s^2)
    s = 0.5
    metric = KLDivergence(gaussian_log_prob(1.0))
    metric.update(draw(4000, s, seed=1))
    # sampling error of the estimate at n = 4000 is ~0.03 (seeds 0..3 give 0.638..0.688)
    assert float(metric.compute()) == pytest.approx(s**2 - 1 - math.log(s**2), abs=0.08)


def test_non_finite_samples_give_inf_and_reset_clears():
    metric = KLDivergence(gaussian_log_prob(1.0))
    metric.update(torch.tensor([[math.nan, 0.0]] * 10))
    assert float(metric.compute()) == math.inf
    metric.reset()
    metric.update(draw(100, 1.0))
    assert math.isfinite(float(metric.compute()))


def test_bad_k_is_refused():
    with pytest.raises(ValueError, match="k = 0"):
        KLDivergence(gaussian_log_prob(1.0), k=0)


def test_too_few_samples_give_nan_with_a_warning():
    # a seed block of a tiny run may hold fewer than k + 1 samples: no estimate, said so, no crash
    metric = KLDivergence(gaussian_log_prob(1.0), k=5)
    metric.update(draw(5, 1.0))
    with pytest.warns(UserWarning, match="too few"):
        assert math.isnan(float(metric.compute()))
