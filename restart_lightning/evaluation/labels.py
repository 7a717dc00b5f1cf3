"""Class labels for class-conditional sampling, drawn per sample from the sample's seed."""

from __future__ import annotations

import torch
from torch import Tensor

# Labels use their own stream, apart from the sampler's noise generators seeded by the same seed.
_LABEL_STREAM = 0x4C41_4245_4C53


def draw_labels(seeds: list[int], num_classes: int, fixed: int | None, device) -> Tensor | None:
    """None for unconditional data; else a fixed class or one class per sample from its seed."""
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
