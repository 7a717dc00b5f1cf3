import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch.distributions import MultivariateNormal

from restart_lightning.metrics import (
    ExactNLL,
    FrechetDistance,
    HighQualityFraction,
    ModeCoverage,
    SlicedWasserstein,
    random_projections,
    wasserstein_1d,
)


def standard_normal_log_prob(x):
    return -0.5 * (x.double() ** 2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


def test_exact_nll_of_standard_normal_is_its_entropy():
    d, n = 2, 200_000
    metric = ExactNLL(standard_normal_log_prob)
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(0))
    for chunk in x.split(50_000):
        metric.update(chunk)
    entropy = 0.5 * d * math.log(2 * math.pi * math.e)  # E[-log p] under p
    # Var[-log p(x)] = d / 2, so the standard error is sqrt(d / 2 / n) ~ 0.0022.
    assert metric.compute().item() == pytest.approx(entropy, abs=0.01)


def test_exact_nll_with_the_toy_mixture_density():
    toy = pytest.importorskip("restart_lightning.data.toy")
    mixture = toy.GaussianMixture(torch.tensor([[0.0, 0.0], [3.0, 0.0]]), std=0.5)
    metric = ExactNLL(mixture.log_prob)
    x = torch.tensor([[0.0, 0.0], [3.0, 0.0], [1.5, 1.0]])
    metric.update(x)
    comps = MultivariateNormal(mixture.means, 0.25 * torch.eye(2, dtype=torch.float64))
    expected = -torch.logsumexp(comps.log_prob(x.double()[:, None]) + math.log(0.5), dim=1).mean()
    assert metric.compute().item() == pytest.approx(expected.item(), rel=1e-10)


def test_exact_nll_rejects_wrong_shape():
    metric = ExactNLL(lambda x: x.sum(1, keepdim=True))
    with pytest.raises(ValueError, match="shape"):
        metric.update(torch.zeros(3, 2))


MEANS = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])


def test_mode_coverage_and_high_quality_fraction_on_a_constructed_set():
    samples = torch.tensor(
        [
            [0.1, 0.0],  # mode 0
            [0.0, -0.2],  # mode 0
            [4.0, 0.25],  # mode 1
            [2.0, 2.0],  # between modes: low quality
            [0.0, 4.4],  # 0.4 from mode 2: outside radius 0.3
        ]
    )
    coverage, quality = ModeCoverage(MEANS, radius=0.3), HighQualityFraction(MEANS, radius=0.3)
    strict = ModeCoverage(MEANS, radius=0.3, min_samples=2)
    for metric in (coverage, quality, strict):
        metric.update(samples)
    assert coverage.compute().item() == pytest.approx(2 / 4)
    assert quality.compute().item() == pytest.approx(3 / 5)
    assert strict.compute().item() == pytest.approx(1 / 4)
    assert coverage.mode_counts.tolist() == [2, 1, 0, 0]


def test_sliced_wasserstein_identical_sets_is_zero():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    metric = SlicedWasserstein(x, num_projections=64, seed=3)
    metric.update(x[:200])
    metric.update(x[200:])
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-12)


def test_sliced_wasserstein_of_a_shift():
    # Projections of X + v are those of X shifted by theta.v, so W_2^2 = (theta.v)^2 exactly.
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(2))
    v = torch.tensor([1.5, -0.5])
    metric = SlicedWasserstein(x, num_projections=50, seed=7)
    metric.update(x + v)
    theta = random_projections(2, 50, seed=7)
    assert torch.allclose(theta.norm(dim=1), torch.ones(50, dtype=torch.float64))
    expected_sq = ((theta @ v.double()) ** 2).mean()
    assert metric.compute().item() ** 2 == pytest.approx(expected_sq.item(), rel=1e-6)
    # Uniform directions in 2-D: E[(theta.v)^2] = |v|^2 / 2; many projections get close.
    many = SlicedWasserstein(x, num_projections=20_000, seed=0)
    many.update(x + v)
    assert many.compute().item() ** 2 == pytest.approx(v.square().sum().item() / 2, rel=0.03)


def test_sliced_wasserstein_same_seed_same_projections():
    # Written out here: normal float64 draws of a CPU generator seeded by the seed, scaled to unit length.
    theta = torch.randn(10, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.equal(random_projections(3, 10, 5), theta / theta.norm(dim=1, keepdim=True))
    assert not torch.equal(random_projections(3, 10, 5), random_projections(3, 10, 6))


def test_wasserstein_1d_unequal_sizes_against_scipy_and_replication():
    g = np.random.default_rng(3)
    u, v = np.sort(g.standard_normal(6)), np.sort(g.standard_normal(4) + 0.7)
    got_w1 = wasserstein_1d(torch.from_numpy(u), torch.from_numpy(v), p=1)
    assert got_w1.item() == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-12)
    # W_2^2: replicate both to lcm(6, 4) = 12 equally weighted atoms and match sorted atoms.
    uu, vv = np.repeat(u, 2), np.repeat(v, 3)
    got_w2 = wasserstein_1d(torch.from_numpy(u), torch.from_numpy(v), p=2)
    assert got_w2.item() == pytest.approx(np.mean((uu - vv) ** 2), rel=1e-12)
    # Batched over projections.
    batch = wasserstein_1d(torch.from_numpy(np.stack([u, u])), torch.from_numpy(np.stack([v, u[:4]])), p=1)
    assert batch[0].item() == pytest.approx(got_w1.item())


def two_rank_split(make, data):
    """The same data through one metric, and split over two instances merged as DDP would."""
    single, rank0, rank1 = make(), make(), make()
    single.update(data)
    rank0.update(data[:37])
    rank1.update(data[37:])
    rank0.merge_state(rank1)
    return single.compute(), rank0.compute(), rank0


@pytest.mark.parametrize(
    "make",
    [
        lambda: ExactNLL(standard_normal_log_prob),
        lambda: ModeCoverage(MEANS, radius=1.0),
        lambda: HighQualityFraction(MEANS, radius=1.0),
        lambda: SlicedWasserstein(torch.randn(80, 2, generator=torch.Generator().manual_seed(9)), 16, seed=1),
    ],
    ids=["nll", "coverage", "quality", "sliced_wasserstein"],
)
def test_merged_states_equal_single_instance(make):
    data = torch.randn(100, 2, generator=torch.Generator().manual_seed(4)) * 2 + 1
    single, merged, _ = two_rank_split(make, data)
    torch.testing.assert_close(merged, single)


def test_frechet_merge_sums_generated_but_not_reference_states():
    def make():
        metric = FrechetDistance("identity", num_features=2)
        metric.set_reference(torch.tensor([1.0, 1.0]), torch.tensor([[2.0, 0.5], [0.5, 1.0]]), num_samples=50)
        return metric

    data = torch.randn(100, 2, generator=torch.Generator().manual_seed(5))
    single, merged, rank0 = two_rank_split(make, data)
    torch.testing.assert_close(merged, single)
    assert rank0.real_features_num_samples == 50 and rank0.fake_features_num_samples == 100


def test_mode_coverage_share_threshold_follows_the_sample_count():
    """min_share s: a mode needs max(1, floor(s n / K)) of n samples; 4 modes, s = 0.5."""
    means = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    counts = [5, 2, 1, 0]  # samples at each mode; n = 8 -> threshold floor(0.5 * 8 / 4) = 1
    samples = torch.cat([means[i].repeat(c, 1) for i, c in enumerate(counts)])
    metric = ModeCoverage(means, radius=0.5, min_share=0.5)
    metric.update(samples)
    assert metric.threshold() == 1 and metric.compute().item() == 0.75
    metric.update(torch.full((8, 2), 50.0))  # 8 far samples: n = 16 -> threshold 2
    assert metric.threshold() == 2 and metric.compute().item() == 0.5
    with pytest.raises(ValueError, match="min_share"):
        ModeCoverage(means, radius=0.5, min_share=0.0)
