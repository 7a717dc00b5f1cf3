"""Embeddings of the noise level c_noise and of class labels, shared by the networks."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class PositionalEmbedding(nn.Module):
    """Sinusoidal features of a scalar (Transformer / DDPM style): [cos(c f_k), sin(c f_k)]."""

    def __init__(self, channels: int, max_positions: int = 10000) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"embedding channels must be even, got {channels}")
        half = channels // 2
        freqs = torch.exp(-math.log(max_positions) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, c: Tensor) -> Tensor:
        angles = c.float()[:, None] * self.freqs[None, :]
        return torch.cat([angles.cos(), angles.sin()], dim=1)


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
        if labels is None:
            labels = torch.full((batch_size,), -1, dtype=torch.long, device=device)
        labels = labels.long()
        if self.training and self.label_dropout > 0:
            drop = torch.rand(labels.shape, device=labels.device) < self.label_dropout
            labels = torch.where(drop, torch.full_like(labels, -1), labels)
        # -1 (no label) is stored in the last row.
        return self.table(torch.where(labels < 0, torch.full_like(labels, self.num_classes), labels))
