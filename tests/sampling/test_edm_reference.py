"""Heun and EDM stochastic samplers against EDM Algorithms 1 and 2 written out plainly here."""

import math

import torch

from restart_lightning.sampling import EDMStochastic, Heun, NoiseSource

from .streams import batch_streams
from .toys import Mixture

SEEDS = [3, 17, 42, 1000, 7]


def edm_algorithm_2(D, seeds, num_steps, S_churn=0.0, S_min=0.0, S_max=math.inf, S_noise=1.0):
    """EDM Alg. 2 (Alg. 1 when S_churn = 0), float64, noise from one generator per sample
    (the library's documented stream: latents, then every churn draw, see streams.py)."""

    def denoise(x, sigma):
        return D(x, torch.full((x.shape[0],), sigma, dtype=torch.float64))

    rho, sigma_min, sigma_max = 7.0, 0.002, 80.0
    t = [
        (sigma_max ** (1 / rho) + i / (num_steps - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
        for i in range(num_steps)
    ] + [0.0]
    gammas = [min(S_churn / num_steps, math.sqrt(2) - 1) if S_min <= t[i] <= S_max else 0.0 for i in range(num_steps)]
    latents, churn = batch_streams(seeds, (2,), sum(g > 0 for g in gammas))
    draws = iter(churn)

    def randn():
        return next(draws)

    x = latents * t[0]
    for i in range(num_steps):
        gamma = gammas[i]
        t_hat = t[i] + gamma * t[i]
        if gamma > 0:
            x = x + math.sqrt(t_hat**2 - t[i] ** 2) * S_noise * randn()
        d = (x - denoise(x, t_hat)) / t_hat
        x_next = x + (t[i + 1] - t_hat) * d
        if i < num_steps - 1:
            d_prime = (x_next - denoise(x_next, t[i + 1])) / t[i + 1]
            x_next = x + (t[i + 1] - t_hat) * (0.5 * d + 0.5 * d_prime)
        x = x_next
    return x


def test_heun_matches_algorithm_1():
    mixture = Mixture()
    latents = NoiseSource(SEEDS).randn((2,))
    ours = Heun(num_steps=12)(mixture, latents).samples
    reference = edm_algorithm_2(mixture, SEEDS, 12)
    assert (ours - reference).abs().max() < 1e-10


def test_edm_sde_matches_algorithm_2_with_the_same_noise():
    mixture = Mixture()
    options = dict(S_churn=40.0, S_min=0.05, S_max=10.0, S_noise=1.003)
    sampler = EDMStochastic(num_steps=16, **options)
    plan = sampler.plan(mixture)
    assert 0 < len(plan.noise_injections) < 16  # S_min/S_max gate some steps
    ours = sampler(mixture, shape=(2,), seeds=SEEDS).samples
    reference = edm_algorithm_2(mixture, SEEDS, 16, **options)
    assert (ours - reference).abs().max() < 1e-10
    assert (ours - Heun(num_steps=16)(mixture, shape=(2,), seeds=SEEDS).samples).abs().max() > 1e-3
