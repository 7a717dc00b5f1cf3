"""Per-sample randomness: one generator per sample, seeded by the sample's global index.

Sample i draws all its noise (initial latents, class labels, every injection) from its own
generator, so it is bit-identical whatever the batch size, the number of processes or the
order of batches (the scheme of EDM's ``StackedRandomGenerator``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class NoiseSource:
    """One ``torch.Generator`` per sample on ``device``, generator i seeded with ``seeds[i]``.

    Draws are stacked along a new leading batch dimension. Generators on different devices
    produce different streams: a sample is reproducible for a given device type.
    """

    def __init__(self, seeds: Sequence[int] | Tensor, device: torch.device | str = "cpu") -> None:
        seeds = [int(s) for s in (seeds.tolist() if isinstance(seeds, Tensor) else seeds)]
        if not seeds:
            raise ValueError("seeds: need at least one seed")
        self.seeds = seeds
        self.device = torch.device(device)
        self.generators = [torch.Generator(self.device).manual_seed(s) for s in seeds]

    def __len__(self) -> int:
        return len(self.seeds)

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float64) -> Tensor:
        """Standard normal draws of per-sample ``shape``: a tensor [len(seeds), *shape]."""
        return torch.stack(
            [torch.randn(tuple(shape), generator=g, dtype=dtype, device=self.device) for g in self.generators]
        )

    def randint(self, high: int, shape: Sequence[int] = ()) -> Tensor:
        """Integers uniform in [0, high) of per-sample ``shape`` (e.g. class labels): int64 [len(seeds), *shape]."""
        return torch.stack(
            [torch.randint(high, tuple(shape), generator=g, device=self.device) for g in self.generators]
        )
