"""The hybrid test: exact on both sides is the pure-exact run bit for bit; an error confined above a
sigma is attributed to the bands above it only."""

from __future__ import annotations

import math

import pytest
import torch

from restart_lightning.data.toy import grid_mixture
from restart_lightning.sampling import build_sampler
from restart_lightning.tuning.hybrid import SwitchedDenoiser, hybrid_samples, run_hybrid, toy_metrics

SHAPE = (2,)


def _setup(n: int = 400):
    mixture = grid_mixture(size=3)
    reference = mixture.sample(n, torch.Generator().manual_seed(11))
    data = mixture.sample(n, torch.Generator().manual_seed(12))
    return mixture, reference, data


def test_exact_on_both_sides_is_the_pure_exact_run_bit_for_bit():
    mixture, reference, data = _setup()
    exact = mixture.denoiser()
    sampler = build_sampler("heun", num_steps=8)
    seeds = range(200)
    pure = sampler(exact, seeds=list(seeds), shape=SHAPE).samples
    for cut in (0.01, 0.3, 5.0):
        assert torch.equal(hybrid_samples(sampler, exact, exact, cut, seeds=seeds, shape=SHAPE, batch_size=64), pure)
    split = run_hybrid(exact, exact, sampler, [0.05, 0.5, 5.0], metrics=toy_metrics(mixture, reference),
                       data_samples=data[:200], num_samples=200, shape=SHAPE)
    assert split.nfe == 15 and split.num_samples == 200
    for metric in split.metrics:
        assert split.approximation(metric) == 0.0
        assert all(a == 0.0 and b == 0.0 for _, _, a, b in split.bands(metric))
        assert split.learned_above == [split.exact] * 3 and split.learned_below == [split.exact] * 3


def test_an_error_above_a_cut_is_attributed_above_it():
    mixture, reference, data = _setup()
    exact = mixture.denoiser()

    def wrong_above_one(x, sigma, labels=None):  # a "learned" denoiser that errs only at sigma > 1
        out = exact(x, sigma)
        return torch.where(torch.as_tensor(sigma).reshape(-1, 1) > 1.0, 0.8 * out, out)

    sampler = build_sampler("heun", num_steps=8)
    split = run_hybrid(wrong_above_one, exact, sampler, [0.1, 1.0, 10.0], metrics=toy_metrics(mixture, reference),
                       data_samples=data[:200], num_samples=200, shape=SHAPE)
    for metric in split.metrics:
        bands = split.bands(metric)
        assert [b[:2] for b in bands] == [(0.0, 0.1), (0.1, 1.0), (1.0, 10.0), (10.0, math.inf)]
        assert bands[0][2] == bands[1][2] == 0.0  # below the cut the runs are the same samples
        assert bands[0][3] == bands[1][3] == 0.0
        assert sum(b[2] for b in bands) == pytest.approx(split.approximation(metric), abs=1e-9)
    assert split.approximation("nll") > 0


def test_switched_denoiser_selects_per_sample():
    def high(x, sigma, labels=None):
        return torch.ones_like(x)

    def low(x, sigma, labels=None):
        return torch.zeros_like(x)

    switched = SwitchedDenoiser(high, low, cut=1.0)
    out = switched(torch.zeros(3, 2), torch.tensor([0.5, 1.0, 2.0]))
    assert out.tolist() == [[0, 0], [0, 0], [1, 1]]
    assert switched.dtype == torch.float32 and switched.sigma_min == 0.0 and switched.sigma_max == math.inf
