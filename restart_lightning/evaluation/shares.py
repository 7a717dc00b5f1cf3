"""Which samples each process generates: contiguous, disjoint, covering 0..n-1 exactly once."""

from __future__ import annotations


def rank_share(num_samples: int, rank: int, world_size: int) -> range:
    """The global sample indices of ``rank``: [rank n / W, (rank + 1) n / W).

    Shares differ by at most one sample; nothing is duplicated or padded, so metrics see
    exactly n samples whatever the number of processes. Sample i always uses seed i, so the
    first samples (those shown in pictures) live on rank 0.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world of size {world_size}")
    return range(rank * num_samples // world_size, (rank + 1) * num_samples // world_size)


def count_label(n: int) -> str:
    """10000 -> '10k', 4096 -> '4096': the sample count as it appears in metric names."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
