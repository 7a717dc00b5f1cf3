"""Uncertainty of sample metrics from disjoint seed blocks, and paired comparisons of two samplers.

The n evaluation samples (sample i from seed i) are cut into B blocks of s = n // B consecutive
seeds (a remainder of n mod B samples is left out of the blocks). A metric computed on each block
gives B independent values of the metric *at s samples*; their mean, sample standard deviation
and Student-t interval for the mean describe that metric at that sample count. (A biased metric
such as FID moves with the sample count, so a block value is not an estimate of the value at n.)

Two samplers run on the same seeds are compared block by block: the B differences
d_b = m_A(block b) - m_B(block b) share the noise of their seeds, so their t-interval is
usually much narrower than the two samplers' separate intervals suggest.

Pure statistics on plain floats: also used by tuning, which spreads seeds the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (ddof 1) and t-interval half-width of B block values."""

    mean: float
    std: float
    half_width: float
    num_blocks: int
    confidence: float = CONFIDENCE

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def excludes_zero(self) -> bool:
        """The interval lies on one side of 0 (a paired difference that is resolved at this confidence)."""
        return self.low > 0 or self.high < 0


def block_size(num_samples: int, num_blocks: int) -> int:
    """s = n // B; at least 2 samples per block (ValueError naming the values otherwise)."""
    if num_blocks < 2:
        raise ValueError(f"seed_blocks must be >= 2 to measure a spread, got {num_blocks}")
    size = num_samples // num_blocks
    if size < 2:
        raise ValueError(f"seed_blocks: {num_blocks} blocks of {num_samples} samples leave {size} per block; "
                         "use at most n // 2 blocks")
    return size


def seed_blocks(num_samples: int, num_blocks: int) -> list[range]:
    """Sample indices of each block: block b is [b s, (b + 1) s)."""
    size = block_size(num_samples, num_blocks)
    return [range(b * size, (b + 1) * size) for b in range(num_blocks)]


def block_of(indices: Tensor, num_samples: int, num_blocks: int) -> Tensor:
    """The block of each sample index (int64), -1 for the remainder that belongs to no block."""
    size = block_size(num_samples, num_blocks)
    block = torch.div(indices, size, rounding_mode="floor")
    return torch.where((block < num_blocks) & (indices >= 0), block, torch.full_like(block, -1))


def t_quantile(confidence: float, dof: int) -> float:
    """Two-sided Student-t critical value t_{(1 + confidence) / 2, dof}."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, dof))


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    """Mean, std and the t-interval of the mean of independent block values (at least 2)."""
    values = [float(v) for v in values]
    b = len(values)
    if b < 2:
        raise ValueError(f"a spread needs at least 2 block values, got {b}")
    mean = math.fsum(values) / b
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (b - 1))
    return Spread(mean, std, t_quantile(confidence, b - 1) * std / math.sqrt(b), b, confidence)


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    """Spread of the block-wise differences a_i - b_i of two samplers evaluated on the same seed blocks."""
    if len(a) != len(b):
        raise ValueError(f"paired blocks differ in number: {len(a)} and {len(b)}")
    return summarize([x - y for x, y in zip(a, b, strict=True)], confidence)
