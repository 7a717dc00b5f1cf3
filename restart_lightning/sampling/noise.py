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

A class-conditional sample's label is drawn from the same seed on a stream of its own
(``draw_labels``), so that a sample's label does not change its noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

#: Elements per sample in one generator call for the plan's injections (part of the stream definition).
BLOCK_ELEMENTS = 2**14
#: Default bound on the prefetched injection noise of a batch, in bytes (at least one block is always held).
MAX_PREFETCH_BYTES = 2**28
# Labels use their own stream, apart from the sampler's noise generators seeded by the same seed.
_LABEL_STREAM = 0x4C41_4245_4C53


def draw_labels(seeds: list[int], num_classes: int, fixed: int | None, device) -> Tensor | None:
    """None for unconditional data; else a fixed class or one class per sample from its seed:
    ``torch.randint(num_classes, (1,))`` of a CPU generator seeded with ``seed ^ 0x4C414245_4C53``."""
    if num_classes <= 0:
        return None
    if fixed is not None:
        if not 0 <= fixed < num_classes:
            raise ValueError(f"class_labels must be in [0, {num_classes - 1}], got {fixed}")
        return torch.full((len(seeds),), fixed, dtype=torch.long, device=device)
    drawn = [
        int(torch.randint(num_classes, (1,), generator=torch.Generator().manual_seed(seed ^ _LABEL_STREAM)))
        for seed in seeds
    ]
    return torch.tensor(drawn, dtype=torch.long, device=device)


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
    """The per-sample streams of ``seeds`` on ``device``: sample i's generator is seeded with ``seeds[i]``.

    ``draw(shape, count)`` gives a run's latents and its ``count`` injections (prefetched in
    chunks of at most ``max_bytes``, see ``injection_chunks``); ``randn`` draws one more value
    per sample and ``injections`` continues after earlier draws. A source serves one run: it is
    spent once the last chunk is drawn. Generators on different devices produce different
    streams: a sample is reproducible for a given device type.

    Memory behaviour, the reason for the design: thousands of live generators (2.5 KB of state
    each) fragment the heap, after which glibc may serve the network's activations with fresh
    pages at every call (+30% on a tiny MLP at batch 10,000). So no generator per sample is
    kept: a pass over the samples re-seeds one generator per sample and replays that sample's
    earlier calls, if any, before drawing. Only a plan whose injections need more than one chunk
    (large images) keeps one generator per sample, from the first chunk to the last.
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
        self._history: list[Callable[[torch.Generator], object]] = []  # every sample's calls so far, to replay
        self._generators: list[torch.Generator] | None = None  # kept only between the chunks of a long plan
        self.spent = False  # True once the last chunk of injections is drawn

    def __len__(self) -> int:
        return len(self.seeds)

    def _each_generator(self) -> Iterator[torch.Generator]:
        """Every sample's generator in order, positioned after the calls already made."""
        if self.spent:
            raise RuntimeError("NoiseSource: this source has served a run; make a new NoiseSource(seeds)")
        if self._generators is not None:
            yield from self._generators
            return
        g = torch.Generator(self.device)
        for seed in self.seeds:
            g.manual_seed(seed)
            for call in self._history:
                call(g)
            yield g

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float64) -> Tensor:
        """Standard normal draws of per-sample ``shape``: a tensor [len(seeds), *shape], one call per sample."""
        out = torch.empty((len(self), *shape), dtype=dtype, device=self.device)
        for g, row in zip(self._each_generator(), out):
            row.normal_(generator=g)  # = torch.randn(shape, generator=g): the same kernel on a contiguous row
        self._remember_normal(math.prod(shape), dtype)
        return out

    def randint(self, high: int, shape: Sequence[int] = ()) -> Tensor:
        """Integers uniform in [0, high) of per-sample ``shape``: int64 [len(seeds), *shape]."""
        shape = tuple(shape)
        out = torch.stack([torch.randint(high, shape, generator=g, device=self.device) for g in self._each_generator()])
        self._history.append(lambda g: torch.randint(high, shape, generator=g, device=self.device))
        return out

    def draw(self, shape: Sequence[int], count: int) -> tuple[Tensor, Iterator[Tensor]]:
        """A run's float64 latents [len(seeds), *shape] and its ``count`` injections (see ``injections``),
        the latents and the first chunk in one pass over the samples."""
        return self._start(tuple(shape), count, with_latents=True)

    def injections(self, shape: Sequence[int], count: int) -> Iterator[Tensor]:
        """The ``count`` injection draws of a plan, each float64 [len(seeds), *shape], in plan order.

        The first chunk is drawn here, before the caller's first network call; the source is
        spent right after the last chunk is drawn (immediately when ``count`` is 0).
        """
        return self._start(tuple(shape), count, with_latents=False)[1]

    def _start(self, shape: tuple[int, ...], count: int, with_latents: bool):
        size = math.prod(shape)
        chunks = injection_chunks(size, count, len(self), self.max_bytes)
        latents = torch.empty((len(self), *shape), dtype=torch.float64, device=self.device) if with_latents else None
        if len(chunks) > 1:  # later chunks continue each sample's generator: keep them until the last
            self._generators = list(self._fresh_generators())
        first = None
        if chunks:
            first = torch.empty((len(self), sum(chunks[0]) * size), dtype=torch.float64, device=self.device)
        rows = [r for r in (latents, first) if r is not None]
        for g, *per_sample in zip(self._each_generator(), *rows):
            if latents is not None:
                per_sample[0].normal_(generator=g)
            if first is not None:
                _fill_blocks(per_sample[-1], chunks[0], size, g)
        if latents is not None:
            self._remember_normal(size, torch.float64)
        if len(chunks) <= 1:
            self._release()
        return latents, self._serve(first, chunks, shape, size)

    def _fresh_generators(self) -> Iterator[torch.Generator]:
        for seed in self.seeds:
            g = torch.Generator(self.device).manual_seed(seed)
            for call in self._history:
                call(g)
            yield g

    def _remember_normal(self, size: int, dtype: torch.dtype) -> None:
        scratch = torch.empty(size, dtype=dtype, device=self.device)
        self._history.append(lambda g: scratch.normal_(generator=g))

    def _release(self) -> None:
        self._generators, self._history, self.spent = None, [], True

    def _serve(
        self, first: Tensor | None, chunks: list[list[int]], shape: tuple[int, ...], size: int
    ) -> Iterator[Tensor]:
        for k, blocks in enumerate(chunks):
            if k == 0:
                chunk, first = first, None  # hold one chunk at a time
            else:
                chunk = torch.empty((len(self), sum(blocks) * size), dtype=torch.float64, device=self.device)
                for g, row in zip(self._each_generator(), chunk):
                    _fill_blocks(row, blocks, size, g)
            if k == len(chunks) - 1:
                self._release()
            draws = chunk.view(len(self), sum(blocks), *shape)
            for j in range(draws.shape[1]):
                yield draws[:, j]


def _fill_blocks(row: Tensor, blocks: list[int], size: int, g: torch.Generator) -> None:
    """One sample's blocks into its contiguous ``row``: one generator call per block."""
    if len(blocks) == 1:
        row.normal_(generator=g)
        return
    start = 0
    for block in blocks:
        row[start : start + block * size].normal_(generator=g)
        start += block * size
