"""The ``predict`` stage's data: the global indices (= seeds) of the samples to generate."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader


def seed_dataloader(num_samples: int, batch_size: int) -> DataLoader:
    """Batches of sample indices 0..n-1; under DDP, Lightning's sampler splits them between ranks."""
    if num_samples < 1:
        raise ValueError(f"data.num_predict_samples must be >= 1, got {num_samples}")
    return DataLoader(torch.arange(num_samples), batch_size=batch_size, shuffle=False)
