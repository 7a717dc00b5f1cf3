"""Embeddings of the noise level c_noise and of class labels, shared by the networks."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_frequencies(
    channels: int, max_period: float = 10000.0, *, endpoint: bool, device: torch.device | None = None
) -> Tensor:
    """The ``channels // 2`` float32 frequencies f_k = max_period^(-k / n), k = 0..half-1.

    n = half - 1 with ``endpoint`` (they run from 1 down to exactly 1 / max_period: DDPM++/ADM,
    the U-Net's), else n = half (Transformer style, the MLP's). The two networks were trained with
    their own denominators, so both are kept: a checkpoint gives the same outputs as before.
    """
    half = channels // 2
    k = torch.arange(half, dtype=torch.float32, device=device)
    return torch.exp(-math.log(max_period) * k / (half - 1 if endpoint else half))


def sinusoidal_features(c: Tensor, freqs: Tensor) -> Tensor:
    """[cos(c f_k), sin(c f_k)]: [B] noise inputs and [half] frequencies -> [B, 2 half]."""
    angles = c[:, None] * freqs[None, :]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class PositionalEmbedding(nn.Module):
    """Sinusoidal features of a scalar (Transformer / DDPM style): [cos(c f_k), sin(c f_k)], f_k = 10^4^(-k/half).

    c is taken in float32 (the frequencies are a float32 buffer, not saved with the weights).
    """

    def __init__(self, channels: int, max_positions: int = 10000) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"embedding channels must be even, got {channels}")
        freqs = sinusoidal_frequencies(channels, max_positions, endpoint=False)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, c: Tensor) -> Tensor:
        return sinusoidal_features(c.float(), self.freqs)


class LabelEmbedding(nn.Module):
    """Class labels -> vectors, with a learned null row for label -1 ("no label").

    During training, ``label_dropout`` replaces labels by -1 so that the same network also
    learns the unconditional denoiser that classifier-free guidance needs.
    """

    def __init__(self, num_classes: int, channels: int, label_dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_dropout <= 1.0:
            raise ValueError(f"label_dropout must be in [0, 1], got {label_dropout}")
        self.num_classes, self.label_dropout = num_classes, label_dropout
        self.table = nn.Embedding(num_classes + 1, channels)

    def forward(self, labels: Tensor | None, batch_size: int, device: torch.device) -> Tensor:
        rows = label_rows(labels, batch_size, self.num_classes, self.label_dropout if self.training else 0.0, device)
        return self.table(rows)


def label_rows(labels: Tensor | None, batch: int, num_classes: int, label_dropout: float, device) -> Tensor:
    """Rows of a label table of ``num_classes + 1`` rows: the class, or the last (null) row for label -1,
    for no labels at all, and for each label dropped with probability ``label_dropout`` (pass 0 outside
    training). A dropout draws ``torch.rand(batch)`` from the global generator, only when there are labels."""
    null = torch.full((batch,), num_classes, dtype=torch.long, device=device)
    if labels is None:
        return null
    rows = labels.to(device=device, dtype=torch.long).reshape(batch)
    rows = torch.where(rows < 0, null, rows)
    if label_dropout > 0:
        rows = torch.where(torch.rand(batch, device=device) < label_dropout, null, rows)
    return rows
