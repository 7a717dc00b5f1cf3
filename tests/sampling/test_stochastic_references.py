"""Restart and Euler ancestral against their algorithms written out plainly here, with the documented noise."""

import itertools
import math

import torch

from restart_lightning.sampling import EulerAncestral, Restart

from .streams import batch_streams
from .toys import Mixture

SEEDS = [3, 17, 42, 1000, 7]


def edm_grid(num_steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """EDM eq. 5 in Python floats, the ends pinned to sigma_max and sigma_min, then 0."""
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    grid = [(a + i / max(num_steps - 1, 1) * (b - a)) ** rho for i in range(num_steps)]
    grid[0], grid[-1] = sigma_max, sigma_min
    return grid + [0.0]


def heun(D, x, t, t_next):
    """EDM Alg. 1 lines 4-8 (the corrector averages the slopes as 0.5 d + 0.5 d')."""

    def d(x, t):
        return (x - D(x, torch.full((x.shape[0],), t, dtype=torch.float64))) / t

    d_t = d(x, t)
    x_next = x + (t_next - t) * d_t
    return x_next if t_next == 0 else x + (t_next - t) * (0.5 * d_t + 0.5 * d(x_next, t_next))


def restart_algorithm(D, seeds, num_steps, intervals, S_noise):
    """Restart Alg. 2 with Heun, for any intervals [N_restart, K, t_min, t_max]: the main pass; when
    it reaches the grid point nearest an interval's t_min, K rounds of a jump to t_max,
    x + S_noise sqrt(t_max^2 - t_min^2) n, and N_restart - 1 Heun steps back down an EDM rho = 7 grid.
    The jumps draw the per-sample streams in the order the main pass meets the intervals."""
    t = edm_grid(num_steps)
    at = {min(range(len(t)), key=lambda i: abs(t[i] - t_min)): (n, k, t_max) for n, k, t_min, t_max in intervals}
    latents, jumps = batch_streams(seeds, (2,), sum(k for _, k, _, _ in intervals))
    jumps = iter(jumps)
    x = latents * t[0]
    for i in range(num_steps):
        x = heun(D, x, t[i], t[i + 1])
        if i + 1 in at:
            n_restart, k, t_max = at[i + 1]
            t_min = t[i + 1]
            back = edm_grid(n_restart, t_min, t_max)[:-1]
            for _ in range(k):
                x = x + S_noise * math.sqrt(t_max**2 - t_min**2) * next(jumps)
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
    reference = restart_algorithm(mixture, SEEDS, 12, [[4, 3, 0.2, 1.0]], 1.003)
    assert (ours - reference).abs().max() < 1e-10


def test_restart_with_several_intervals_is_bit_exact_with_the_plain_loop():
    """Three intervals with K > 0 (given out of order: the main pass meets them high to low)."""
    mixture, intervals = Mixture(), [[4, 3, 0.2, 1.0], [3, 2, 2.0, 5.0], [2, 1, 0.05, 0.1]]
    sampler = Restart(num_steps=14, restart_intervals=intervals, S_noise=1.003)
    assert len(sampler.plan().noise_injections) == 6
    ours = sampler(mixture, shape=(2,), seeds=SEEDS).samples
    reference = restart_algorithm(mixture, SEEDS, 14, intervals, 1.003)
    assert torch.equal(ours, reference)
    assert not torch.equal(ours, restart_algorithm(mixture, SEEDS, 14, [], 1.003))  # the rounds did something


def test_euler_ancestral_matches_its_algorithm_with_the_same_noise():
    mixture = Mixture()
    ours = EulerAncestral(num_steps=10, eta=0.8, S_noise=1.002)(mixture, shape=(2,), seeds=SEEDS).samples
    reference = euler_ancestral_algorithm(mixture, SEEDS, 10, eta=0.8, S_noise=1.002)
    assert (ours - reference).abs().max() < 1e-10
