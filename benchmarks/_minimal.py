"""Hand-written sampling loops: the arithmetic of our Heun, EDM SDE and Restart samplers, nothing else.

The baselines of sampler_speed.py. They call the network exactly as ``run_plan`` does (x cast to
float32, sigma a float32 [B] vector, output back to float64; float64 solver state) and, with
``PerSampleNoise``, draw exactly the same noise, so their samples equal the library's bit for bit
(the script checks it). ``BatchNoise`` is one generator for the whole batch, as in k-diffusion's loops.
``PrefetchedNoise`` is the proposed fix for the per-sample noise cost (see docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from restart_lightning.sampling import Plan
from restart_lightning.sampling.schedules import karras_sigmas

Noise = Callable[[Sequence[int]], Tensor]


class PerSampleNoise:
    """One torch.Generator per sample, as restart_lightning.sampling.NoiseSource."""

    def __init__(self, seeds: Sequence[int], device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.generators = [torch.Generator(self.device).manual_seed(int(s)) for s in seeds]

    def __call__(self, shape: Sequence[int]) -> Tensor:
        return torch.stack([torch.randn(tuple(shape), generator=g, dtype=torch.float64, device=self.device)
                            for g in self.generators])


class BatchNoise:
    """One generator for the whole batch (samples then depend on the batch they are drawn in)."""

    def __init__(self, seed: int, batch: int, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.generator, self.batch = torch.Generator(self.device).manual_seed(seed), batch

    def __call__(self, shape: Sequence[int]) -> Tensor:
        return torch.randn((self.batch, *shape), generator=self.generator, dtype=torch.float64, device=self.device)


class PrefetchedNoise:
    """Per-sample noise drawn in ONE call per sample for the whole plan, then served in slices.

    Duck-types NoiseSource (``len``, ``randn``) so it can be passed as ``sampler(..., noise=...)``.
    Sample i still depends only on seed i (and the plan); the stream differs from NoiseSource's.
    """

    def __init__(self, seeds: Sequence[int], plan: Plan, shape: Sequence[int]) -> None:
        self.seeds, self.shape = list(seeds), tuple(shape)
        size = math.prod(self.shape)
        draws = 1 + len(plan.noise_injections)  # the latents, then every injection
        block = torch.stack([torch.randn(draws * size, generator=torch.Generator().manual_seed(int(s)),
                                         dtype=torch.float64) for s in self.seeds])
        self.buffer, self.offset, self.size = block, 0, size

    def __len__(self) -> int:
        return len(self.seeds)

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float64) -> Tensor:
        out = self.buffer[:, self.offset: self.offset + self.size].reshape(len(self.seeds), *shape)
        self.offset += self.size
        return out.to(dtype)


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
