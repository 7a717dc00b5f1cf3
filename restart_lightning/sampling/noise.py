"""Per-sample randomness: one generator per sample, seeded by the sample's global index.

Sample i draws all its noise (initial latents and every injection of the plan) from its own
generator, so it is bit-identical whatever the batch size, the number of processes or the
order of batches (the scheme of EDM's ``StackedRandomGenerator``). The plan says in advance
how many injections a run makes, so they are drawn ahead in few large calls per generator
instead of one small call per sample and injection -- the per-call cost and the thousands of
live generators were what made per-sample noise slow for tiny networks at large batches.

The stream of sample i (seed s, per-sample shape S of n = prod(S) elements, a plan with m
injections), all float64 on the source's device:

1. ``g = torch.Generator(device).manual_seed(s)``;
2. the latents: ``torch.randn(S, generator=g)`` (the same for every sampler);
3. the m injections in plan order, in blocks of ``b = max(1, BLOCK_ELEMENTS // n)`` draws:
   block k is one call ``torch.randn(c * n, generator=g)`` with c = min(b, m - k b), and
   injection j is elements [(j - k b) n, (j - k b + 1) n) of block k = j // b, shaped S.

The block size is part of the stream; how many blocks are held at once (``max_bytes``) is not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

#: Elements per sample in one generator call for the plan's injections (part of the stream definition).
BLOCK_ELEMENTS = 2**14
#: Default bound on the prefetched injection noise of a batch, in bytes (at least one block is always held).
MAX_PREFETCH_BYTES = 2**28


def injection_chunks(size: int, count: int, batch: int, max_bytes: int = MAX_PREFETCH_BYTES) -> list[list[int]]:
    """How ``count`` injections of ``size`` elements per sample are drawn for a batch of ``batch``.

    A list of chunks, each a list of block lengths (draws per generator call, see the module
    docstring); one chunk is drawn at a time, before the first injection it serves. A chunk
    holds as many whole blocks as fit in ``max_bytes`` of float64 for the batch, at least one,
    so the prefetched noise never exceeds max(max_bytes, batch * BLOCK_ELEMENTS * 8) bytes
    (or one draw, batch * size * 8 bytes, if a single draw is larger than a block).
    """
    per_block = max(1, BLOCK_ELEMENTS // size)
    blocks = [min(per_block, count - start) for start in range(0, count, per_block)]
    blocks_per_chunk = max(1, max_bytes // (batch * per_block * size * 8))
    return [blocks[i : i + blocks_per_chunk] for i in range(0, len(blocks), blocks_per_chunk)]


class NoiseSource:
    """One ``torch.Generator`` per sample on ``device``, generator i seeded with ``seeds[i]``.

    ``randn`` gives one draw per sample (the latents); ``injections`` then serves a plan's
    injections, prefetched in chunks of at most ``max_bytes`` (see ``injection_chunks``), and
    releases the generators as soon as the last chunk is drawn -- before the network runs
    whenever one chunk holds them all. A source serves one run; after ``injections`` it is
    spent. Generators on different devices produce different streams: a sample is reproducible
    for a given device type.
    """

    def __init__(
        self, seeds: Sequence[int] | Tensor, device: torch.device | str = "cpu", *, max_bytes: int = MAX_PREFETCH_BYTES
    ) -> None:
        seeds = [int(s) for s in (seeds.tolist() if isinstance(seeds, Tensor) else seeds)]
        if not seeds:
            raise ValueError("seeds: need at least one seed")
        if max_bytes < 1:
            raise ValueError(f"max_bytes = {max_bytes!r} is invalid; allowed: an int >= 1")
        self.seeds, self.max_bytes = seeds, max_bytes
        self.device = torch.device(device)
        self._generators: list[torch.Generator] | None = [
            torch.Generator(self.device).manual_seed(s) for s in seeds
        ]

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def spent(self) -> bool:
        """True once ``injections`` has drawn everything and the generators are released."""
        return self._generators is None

    def _live_generators(self) -> list[torch.Generator]:
        if self._generators is None:
            raise RuntimeError(
                "NoiseSource: this source served a run and released its generators; make a new NoiseSource(seeds)"
            )
        return self._generators

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float64) -> Tensor:
        """Standard normal draws of per-sample ``shape``: a tensor [len(seeds), *shape], one call per generator."""
        out = torch.empty((len(self), *shape), dtype=dtype, device=self.device)
        for g, row in zip(self._live_generators(), out):
            row.normal_(generator=g)  # = torch.randn(shape, generator=g): same kernel on a contiguous row
        return out

    def randint(self, high: int, shape: Sequence[int] = ()) -> Tensor:
        """Integers uniform in [0, high) of per-sample ``shape``: int64 [len(seeds), *shape]."""
        return torch.stack(
            [torch.randint(high, tuple(shape), generator=g, device=self.device) for g in self._live_generators()]
        )

    def injections(self, shape: Sequence[int], count: int) -> Iterator[Tensor]:
        """The ``count`` injection draws of a plan, each float64 [len(seeds), *shape], in plan order.

        The first chunk is drawn here, before the caller's first network call; the generators
        are released right after the last chunk is drawn (immediately when ``count`` is 0).
        """
        generators = self._live_generators()
        size = math.prod(shape)
        chunks = injection_chunks(size, count, len(self), self.max_bytes)
        first = self._draw_chunk(generators, chunks[0], size) if chunks else None
        if len(chunks) <= 1:
            self._generators = generators = None
        return self._serve(first, chunks, generators, tuple(shape), size)

    def _draw_chunk(self, generators: list[torch.Generator], blocks: list[int], size: int) -> Tensor:
        """[len(seeds), sum(blocks) * size]: each sample's blocks, one generator call per block."""
        out = torch.empty((len(self), sum(blocks) * size), dtype=torch.float64, device=self.device)
        for g, row in zip(generators, out):
            start = 0
            for block in blocks:
                row[start : start + block * size].normal_(generator=g)
                start += block * size
        return out

    def _serve(self, first, chunks, generators, shape, size) -> Iterator[Tensor]:
        for k, blocks in enumerate(chunks):
            chunk = first if k == 0 else self._draw_chunk(generators, blocks, size)
            first = None  # hold one chunk at a time
            if k == len(chunks) - 1:
                self._generators = generators = None
            draws = chunk.view(len(self), sum(blocks), *shape)
            for j in range(draws.shape[1]):
                yield draws[:, j]
