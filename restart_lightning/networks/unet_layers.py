"""Small building blocks of the U-Net: noise embeddings, normalisation, resampling, init.

Everything here is plain PyTorch and works with ``torch.channels_last`` inputs.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from restart_lightning.networks.embedding import sinusoidal_features, sinusoidal_frequencies

__all__ = [
    "FourierEmbedding",
    "PositionalEmbedding",
    "Resample",
    "group_norm",
    "init_xavier_",
    "init_zeros_",
    "num_groups_for",
]


def num_groups_for(channels: int, max_groups: int = 32, min_channels_per_group: int = 4) -> int:
    """The largest group count <= ``max_groups`` that divides ``channels`` with at least
    ``min_channels_per_group`` channels per group (1 if there is none)."""
    for groups in range(min(max_groups, channels // min_channels_per_group), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


def group_norm(channels: int, eps: float = 1e-6) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups of at least 4 channels (as in DDPM++/ADM)."""
    return nn.GroupNorm(num_groups_for(channels), channels, eps=eps)


def init_xavier_(module: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Module:
    """Xavier-uniform weights scaled by ``gain``, zero bias; returns the module."""
    nn.init.xavier_uniform_(module.weight, gain=gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def init_zeros_(module: nn.Conv2d | nn.Linear) -> nn.Module:
    """Zero weights and bias (last layer of a residual branch / of the network, as in EDM)."""
    nn.init.zeros_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


class PositionalEmbedding(nn.Module):
    """Sinusoidal embedding of the scalar noise input ``c_noise``, in its dtype (formula in ``networks.embedding``).

    ``emb = [cos(c_noise * f_i), sin(c_noise * f_i)]`` with ``f_i = max_period^(-i / (half - 1))``,
    ``i = 0..half-1``, so the frequencies span 1 down to ``1 / max_period`` (DDPM++/ADM).
    """

    def __init__(self, num_channels: int, max_period: float = 10000.0) -> None:
        super().__init__()
        if num_channels % 2 or num_channels < 4:
            raise ValueError(f"num_channels must be even and >= 4, got {num_channels}")
        self.num_channels = num_channels
        self.max_period = max_period

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        freqs = sinusoidal_frequencies(self.num_channels, self.max_period, endpoint=True, device=c_noise.device)
        return sinusoidal_features(c_noise, freqs.to(c_noise.dtype))


class FourierEmbedding(nn.Module):
    """Random Fourier features of ``c_noise`` (NCSN++): frequencies ``~ N(0, scale^2)``, fixed."""

    freqs: torch.Tensor

    def __init__(self, num_channels: int, scale: float = 16.0) -> None:
        super().__init__()
        if num_channels % 2:
            raise ValueError(f"num_channels must be even, got {num_channels}")
        self.register_buffer("freqs", torch.randn(num_channels // 2) * scale)

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        return sinusoidal_features(c_noise, 2 * math.pi * self.freqs.to(c_noise.dtype))


class Resample(nn.Module):
    """Factor-2 resampling with the box filter [1, 1]: 2x2 average pooling ("down"),
    nearest-neighbour upsampling ("up"), or identity ("none")."""

    def __init__(self, mode: Literal["none", "down", "up"] = "none") -> None:
        super().__init__()
        if mode not in ("none", "down", "up"):
            raise ValueError(f"mode must be 'none', 'down' or 'up', got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "down":
            return F.avg_pool2d(x, kernel_size=2)
        if self.mode == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
