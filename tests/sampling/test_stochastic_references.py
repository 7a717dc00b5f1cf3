"""Restart and Euler ancestral against their algorithms written out plainly here, with the documented noise."""

import itertools
import math

import torch

from restart_lightning.sampling import EulerAncestral, Restart

from .streams import batch_streams
from .toys import Mixture

SEEDS = [3, 17, 42, 1000, 7]


def edm_grid(num_steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    return [
        (sigma_max ** (1 / rho) + i / (num_steps - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
        for i in range(num_steps)
    ] + [0.0]


def heun(D, x, t, t_next):
    def d(x, t):
        return (x - D(x, torch.full((x.shape[0],), t, dtype=torch.float64))) / t

    d_t = d(x, t)
    x_next = x + (t_next - t) * d_t
    return x_next if t_next == 0 else x + (t_next - t) * 0.5 * (d_t + d(x_next, t_next))


def restart_algorithm(D, seeds, num_steps, n_restart, k, t_min, t_max, S_noise):
    """Restart Alg. 2 with one interval and Heun: main pass; at the grid point nearest t_min,
    K rounds of a jump to t_max and n_restart - 1 Heun steps back down an EDM rho = 7 grid."""
    t = edm_grid(num_steps)
    i_min = min(range(len(t)), key=lambda i: abs(t[i] - t_min))
    back = edm_grid(n_restart, t[i_min], t_max)[:-1]
    latents, jumps = batch_streams(seeds, (2,), k)
    jumps = iter(jumps)
    x = latents * t[0]
    for i in range(num_steps):
        x = heun(D, x, t[i], t[i + 1])
        if i + 1 == i_min:
            for _ in range(k):
                x = x + S_noise * math.sqrt(t_max**2 - t[i_min] ** 2) * next(jumps)
                for a, b in itertools.pairwise(back):
                    x = heun(D, x, a, b)
    return x


def euler_ancestral_algorithm(D, seeds, num_steps, eta=1.0, S_noise=1.0):
    """Euler to sigma_down, then noise S_noise * sigma_up (sigma_up = eta sqrt(t'^2 (t^2 - t'^2) / t^2))."""
    t = edm_grid(num_steps)
    latents, draws = batch_streams(seeds, (2,), num_steps - 1)  # every step but the last to 0 adds noise
    draws = iter(draws)
    x = latents * t[0]
    for i in range(num_steps):
        s, s_next = t[i], t[i + 1]
        up = min(s_next, eta * math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2))
        down = math.sqrt(s_next**2 - up**2)
        x0 = D(x, torch.full((x.shape[0],), s, dtype=torch.float64))
        x = x + (down - s) * (x - x0) / s
        if up > 0:
            x = x + S_noise * up * next(draws)
    return x


def test_restart_matches_algorithm_2_with_the_same_noise():
    mixture = Mixture()
    sampler = Restart(num_steps=12, restart_intervals=[[4, 3, 0.2, 1.0]], S_noise=1.003)
    assert len(sampler.plan().noise_injections) == 3
    ours = sampler(mixture, shape=(2,), seeds=SEEDS).samples
    reference = restart_algorithm(mixture, SEEDS, 12, 4, 3, 0.2, 1.0, 1.003)
    assert (ours - reference).abs().max() < 1e-10


def test_euler_ancestral_matches_its_algorithm_with_the_same_noise():
    mixture = Mixture()
    ours = EulerAncestral(num_steps=10, eta=0.8, S_noise=1.002)(mixture, shape=(2,), seeds=SEEDS).samples
    reference = euler_ancestral_algorithm(mixture, SEEDS, 10, eta=0.8, S_noise=1.002)
    assert (ours - reference).abs().max() < 1e-10
