"""The documented per-sample noise stream, written out independently of restart_lightning.sampling.noise.

Sample with seed s, per-sample shape S (n elements), m injections: a fresh generator seeded
with s; the latents are its first ``torch.randn(S)``; then the injections in blocks of
max(1, 16384 // n) draws, one ``torch.randn(c * n)`` call per block.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

BLOCK_ELEMENTS = 16384  # written here, not imported: a change of the library's stream must fail the tests


def sample_stream(seed: int, shape: tuple[int, ...], count: int) -> tuple[Tensor, list[Tensor]]:
    """(latents of shape S, the ``count`` injection draws of shape S) of one sample, float64."""
    g = torch.Generator().manual_seed(seed)
    n = math.prod(shape)
    latents = torch.randn(shape, generator=g, dtype=torch.float64)
    per_call, draws = max(1, BLOCK_ELEMENTS // n), []
    while len(draws) < count:
        c = min(per_call, count - len(draws))
        draws += list(torch.randn(c * n, generator=g, dtype=torch.float64).view(c, *shape))
    return latents, draws


def batch_streams(seeds, shape, count) -> tuple[Tensor, list[Tensor]]:
    """The streams of ``seeds`` stacked: latents [B, *S] and ``count`` injections [B, *S]."""
    streams = [sample_stream(int(s), tuple(shape), count) for s in seeds]
    latents = torch.stack([lat for lat, _ in streams])
    return latents, [torch.stack([draws[j] for _, draws in streams]) for j in range(count)]
