"""Hand-written sampling loops: the arithmetic of our Heun, EDM SDE and Restart samplers, nothing else.

The baselines of sampler_speed.py. They call the network exactly as ``run_plan`` does (x cast to
float32, sigma a float32 [B] vector, output back to float64; float64 solver state) and, with
``PerSampleNoise``, draw exactly the same noise, so their samples equal the library's bit for bit
(the script checks it). ``BatchNoise`` is one generator for the whole batch, as in k-diffusion's loops.
``PerDrawNoise`` is the library's noise before the prefetching NoiseSource, for a before/after row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from restart_lightning.sampling.schedules import karras_sigmas

Noise = Callable[[Sequence[int]], Tensor]


class PerSampleNoise:
    """The library's per-sample stream, written out here: one torch.Generator per sample, its first
    call the latents, then the plan's ``count`` injections in calls of max(1, 16384 // size) draws.

    Everything is drawn at construction and the generators dropped, before the loop calls the
    network (as the library does when one chunk holds all the injections, which it does here).
    Called once per draw: the latents first, then each injection in order.
    """

    def __init__(self, seeds: Sequence[int], shape: Sequence[int], count: int,
                 device: str | torch.device = "cpu") -> None:
        size, batch = math.prod(shape), len(seeds)
        per_call = max(1, 16384 // size)
        self.latents = torch.empty((batch, *shape), dtype=torch.float64, device=device)
        self.draws = torch.empty((batch, count * size), dtype=torch.float64, device=device)
        for i, seed in enumerate(seeds):
            g = torch.Generator(device).manual_seed(int(seed))
            self.latents[i].normal_(generator=g)
            for start in range(0, count, per_call):
                c = min(per_call, count - start)
                self.draws[i, start * size : (start + c) * size].normal_(generator=g)
        self.draws = self.draws.view(batch, count, *shape)
        self.served = -1

    def __call__(self, shape: Sequence[int]) -> Tensor:
        out = self.latents if self.served < 0 else self.draws[:, self.served]
        self.served += 1
        return out


class BatchNoise:
    """One generator for the whole batch (samples then depend on the batch they are drawn in)."""

    def __init__(self, seed: int, batch: int, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.generator, self.batch = torch.Generator(self.device).manual_seed(seed), batch

    def __call__(self, shape: Sequence[int]) -> Tensor:
        return torch.randn((self.batch, *shape), generator=self.generator, dtype=torch.float64, device=self.device)


class PerDrawNoise:
    """The library's stream before the prefetching NoiseSource (one call per sample and draw, the
    generators alive through the whole run), duck-typing NoiseSource for ``sampler(..., noise=...)``."""

    def __init__(self, seeds: Sequence[int]) -> None:
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __len__(self) -> int:
        return len(self.generators)

    def randn(self, shape: Sequence[int]) -> Tensor:
        return torch.stack([torch.randn(tuple(shape), generator=g, dtype=torch.float64) for g in self.generators])

    def injections(self, shape: Sequence[int], count: int):
        return (self.randn(shape) for _ in range(count))

    def draw(self, shape: Sequence[int], count: int):
        return self.randn(shape), self.injections(shape, count)


def _denoise(net: Callable[..., Tensor], x: Tensor, t: float) -> Tensor:
    sigma = torch.full((x.shape[0],), t, dtype=torch.float32, device=x.device)
    return net(x.to(torch.float32), sigma).to(torch.float64)


def _heun(net, x: Tensor, t: float, t_next: float) -> Tensor:
    d = (x - _denoise(net, x, t)) / t
    x_next = x + (t_next - t) * d
    if t_next == 0:
        return x_next
    d_next = (x_next - _denoise(net, x_next, t_next)) / t_next
    return x + (t_next - t) * (0.5 * d + 0.5 * d_next)


@torch.no_grad()
def heun_loop(net, noise: Noise, shape: Sequence[int], sigmas: list[float]) -> Tensor:
    """EDM Algorithm 1."""
    x = noise(shape) * sigmas[0]
    for t, t_next in zip(sigmas[:-1], sigmas[1:]):
        x = _heun(net, x, t, t_next)
    return x


@torch.no_grad()
def edm_sde_loop(net, noise: Noise, shape: Sequence[int], sigmas: list[float],
                 S_churn: float, S_min: float, S_max: float, S_noise: float) -> Tensor:
    """EDM Algorithm 2."""
    n = len(sigmas) - 1
    x = noise(shape) * sigmas[0]
    for t, t_next in zip(sigmas[:-1], sigmas[1:]):
        gamma = min(S_churn / n, math.sqrt(2) - 1) if S_min <= t <= S_max else 0.0
        if gamma > 0:
            t_hat = t * (1 + gamma)
            x = x + S_noise * math.sqrt(t_hat**2 - t**2) * noise(shape)
            t = t_hat
        x = _heun(net, x, t, t_next)
    return x


@torch.no_grad()
def restart_loop(net, noise: Noise, shape: Sequence[int], sigmas: list[float],
                 n_restart: int, k: int, t_min: float, t_max: float, S_noise: float = 1.0) -> Tensor:
    """Restart Algorithm 2, one interval, Heun everywhere, no restart churn."""
    i_min = min(range(len(sigmas)), key=lambda i: abs(sigmas[i] - t_min))
    t_min = sigmas[i_min]
    back = karras_sigmas(n_restart, t_min, t_max, 7.0)[:-1].tolist()
    x = noise(shape) * sigmas[0]
    for i, (t, t_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        x = _heun(net, x, t, t_next)
        if i + 1 == i_min:
            for _ in range(k):
                x = x + S_noise * math.sqrt(t_max**2 - t_min**2) * noise(shape)
                for a, b in zip(back[:-1], back[1:]):
                    x = _heun(net, x, a, b)
    return x


def minimal_loop(spec: dict, net, noise: Noise, shape: Sequence[int], sigmas: list[float]) -> Tensor:
    """The loop above that does the arithmetic of the sampler ``spec`` (``build_sampler`` options):
    heun, edm_sde, or restart with one interval and no restart churn."""
    if spec["name"] == "heun":
        return heun_loop(net, noise, shape, sigmas)
    if spec["name"] == "edm_sde":
        return edm_sde_loop(net, noise, shape, sigmas, spec["S_churn"], spec["S_min"], spec["S_max"], spec["S_noise"])
    [[n_restart, k, t_min, t_max]] = spec["restart_intervals"]
    return restart_loop(net, noise, shape, sigmas, n_restart, k, t_min, t_max)
