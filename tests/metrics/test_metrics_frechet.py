import numpy as np
import pytest
import scipy.linalg
import torch

from restart_lightning.metrics import FrechetDistance, frechet_distance, gaussian_moments
from restart_lightning.metrics.frechet import sums_from_moments


def closed_form(mu1, s1, mu2, s2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}) with scipy's matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def random_spd(d, rng):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_matches_scipy_closed_form():
    rng = np.random.default_rng(0)
    d = 6
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(d, rng), random_spd(d, rng)
    got = frechet_distance(*map(torch.from_numpy, (mu1, s1, mu2, s2)))
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(closed_form(mu1, s1, mu2, s2), rel=1e-9)


def test_frechet_distance_diagonal_analytic():
    # Commuting (diagonal) covariances: sum_i (m1_i - m2_i)^2 + (sqrt(a_i) - sqrt(b_i))^2.
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    expected = ((m1 - m2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum()
    got = frechet_distance(m1, torch.diag(a), m2, torch.diag(b))
    assert got.item() == pytest.approx(expected.item(), rel=1e-10)
    assert frechet_distance(m1, torch.diag(a), m1, torch.diag(a)).item() == pytest.approx(0.0, abs=1e-10)


def test_moments_round_trip_and_match_numpy():
    x = torch.randn(500, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3 + 5
    mu, sigma = gaussian_moments(x.sum(0), x.T @ x, x.shape[0])
    np.testing.assert_allclose(mu.numpy(), x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.numpy(), rowvar=False), rtol=1e-9, atol=1e-12)
    s, c = sums_from_moments(mu, sigma, 500)
    mu2, sigma2 = gaussian_moments(s, c, 500)
    torch.testing.assert_close(mu2, mu)
    torch.testing.assert_close(sigma2, sigma)


def test_identity_frechet_of_gaussian_samples_converges_to_closed_form():
    rng = np.random.default_rng(2)
    d = 3
    mu1, mu2 = np.array([0.5, -1.0, 0.0]), np.zeros(d)
    s1, s2 = random_spd(d, rng), random_spd(d, rng)
    truth = closed_form(mu1, s1, mu2, s2)

    metric = FrechetDistance("identity", num_features=d)
    metric.set_reference(torch.from_numpy(mu2), torch.from_numpy(s2))
    g = torch.Generator().manual_seed(3)
    chol = torch.linalg.cholesky(torch.from_numpy(s1))
    for _ in range(4):  # batches, float32 samples as a sampler would produce
        z = torch.randn(50_000, d, generator=g, dtype=torch.float64)
        metric.update((torch.from_numpy(mu1) + z @ chol.T).float())
    assert metric.compute().item() == pytest.approx(truth, rel=0.02, abs=0.01)


def test_frechet_distance_of_reference_data_to_itself_is_zero():
    x = torch.randn(400, 2, generator=torch.Generator().manual_seed(4)) * 0.3 + 1
    metric = FrechetDistance("identity", num_features=2)
    metric.prepare_reference([x[:150], (x[150:], None)])  # tensors or (tensor, label) batches
    metric.update(x[:200])
    metric.update(x[200:])
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-6)
    assert metric.reference_stats_computed == 1


def test_warns_with_fewer_samples_than_features():
    metric = FrechetDistance("identity", num_features=8)
    metric.set_reference(torch.zeros(8), torch.eye(8))
    metric.update(torch.randn(5, 8))
    with pytest.warns(UserWarning, match="5 generated samples for 8-dimensional"):
        metric.compute()
