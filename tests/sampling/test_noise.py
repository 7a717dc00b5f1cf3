"""Per-sample noise: a sample is bit-identical whatever the batch it is drawn in."""

import pytest
import torch

from restart_lightning.sampling import NoiseSource, build_sampler

from .toys import Mixture

STOCHASTIC = {
    "edm_sde": {"num_steps": 8, "S_churn": 10.0},
    "euler_maruyama": {"num_steps": 8},
    "euler_ancestral": {"num_steps": 8},
    "restart": {"num_steps": 8, "restart_intervals": [[3, 2, 0.1, 0.5]], "restart_gamma": 0.05},
    "heun": {"num_steps": 8},
}


def test_noise_source_draws_do_not_depend_on_the_batch():
    whole = NoiseSource(range(16)).randn((3, 2))
    part = NoiseSource(range(4, 8)).randn((3, 2))
    assert whole.shape == (16, 3, 2) and whole.dtype == torch.float64
    assert torch.equal(whole[4:8], part)
    labels = NoiseSource(range(16)).randint(10)
    assert labels.dtype == torch.int64 and labels.shape == (16,)
    assert torch.equal(labels[8:], NoiseSource(range(8, 16)).randint(10))
    assert not torch.equal(whole[0], whole[1])


@pytest.mark.parametrize("name", list(STOCHASTIC))
def test_seeds_give_identical_samples_with_batch_4_and_16(name):
    sampler, mixture = build_sampler(name, **STOCHASTIC[name]), Mixture()
    whole = sampler(mixture, shape=(2,), seeds=range(16)).samples
    batches = torch.cat([sampler(mixture, shape=(2,), seeds=range(i, i + 4)).samples for i in range(0, 16, 4)])
    assert torch.equal(whole, batches)


@pytest.mark.parametrize("name", list(STOCHASTIC))
def test_given_latents_continue_the_same_streams(name):
    sampler, mixture, seeds = build_sampler(name, **STOCHASTIC[name]), Mixture(), [5, 9, 11]
    from_shape = sampler(mixture, shape=(2,), seeds=seeds).samples
    from_latents = sampler(mixture, NoiseSource(seeds).randn((2,)), seeds=seeds).samples
    assert torch.equal(from_shape, from_latents)
    source = NoiseSource(seeds)
    latents = source.randn((2,))
    assert torch.equal(sampler(mixture, latents, noise=source).samples, from_shape)


def test_default_seeds_are_the_batch_indices():
    sampler, mixture = build_sampler("euler_ancestral", num_steps=6), Mixture()
    latents = NoiseSource(range(4)).randn((2,))
    assert torch.equal(sampler(mixture, latents).samples, sampler(mixture, shape=(2,), seeds=range(4)).samples)
