"""Residual and self-attention blocks of the U-Net (DDPM++ / ADM style)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from restart_lightning.networks.unet_layers import Resample, group_norm, init_xavier_, init_zeros_

__all__ = ["ResidualBlock", "SelfAttention2d"]


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H*W positions, as a residual branch:
    ``x <- (x + proj(attn(qkv(norm(x))))) * skip_scale``. ``proj`` is zero-initialised."""

    def __init__(self, channels: int, num_heads: int = 1, skip_scale: float = 1.0, eps: float = 1e-6) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels={channels} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.skip_scale = skip_scale
        self.norm = group_norm(channels, eps)
        self.qkv = init_xavier_(nn.Conv2d(channels, 3 * channels, 1), gain=math.sqrt(0.2))
        self.proj = init_zeros_(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.num_heads, c // self.num_heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each [B, heads, HW, C/heads]
        a = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v
        a = a.transpose(-1, -2).reshape(b, c, h, w)
        return (x + self.proj(a)) * self.skip_scale


class ResidualBlock(nn.Module):
    """Pre-activation residual block with noise-level modulation and optional attention.

    Branch: ``GroupNorm -> SiLU -> resample -> conv3x3 -> modulate(emb) -> SiLU -> dropout ->
    conv3x3 (zero-init)``. Modulation is a shift added before the second GroupNorm
    (``adaptive_scale=False``, DDPM++) or ``norm(h) * (1 + scale) + shift`` after it
    (``adaptive_scale=True``, ADM). Skip path: resample, then a 1x1 conv when the channel count
    changes or when ``resample_proj`` and the block resamples. The sum is multiplied by
    ``skip_scale``; an optional :class:`SelfAttention2d` follows.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        emb_channels: int,
        resample: Literal["none", "down", "up"] = "none",
        attention: bool = False,
        num_heads: int = 1,
        dropout: float = 0.0,
        skip_scale: float = 1.0,
        adaptive_scale: bool = False,
        resample_proj: bool = False,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.adaptive_scale = adaptive_scale
        self.skip_scale = skip_scale
        self.resample = Resample(resample)
        self.norm0 = group_norm(in_channels, eps)
        self.conv0 = init_xavier_(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.affine = init_xavier_(nn.Linear(emb_channels, out_channels * (2 if adaptive_scale else 1)))
        self.norm1 = group_norm(out_channels, eps)
        self.dropout = nn.Dropout(dropout)
        self.conv1 = init_zeros_(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        needs_proj = in_channels != out_channels or (resample_proj and resample != "none")
        self.skip = init_xavier_(nn.Conv2d(in_channels, out_channels, 1)) if needs_proj else nn.Identity()
        self.attn = SelfAttention2d(out_channels, num_heads, skip_scale, eps) if attention else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv0(self.resample(F.silu(self.norm0(x))))
        params = self.affine(emb)[:, :, None, None].to(h.dtype)
        if self.adaptive_scale:
            scale, shift = params.chunk(2, dim=1)
            h = F.silu(torch.addcmul(shift, self.norm1(h), scale + 1))
        else:
            h = F.silu(self.norm1(h + params))
        h = self.conv1(self.dropout(h))
        x = (h + self.skip(self.resample(x))) * self.skip_scale
        return x if self.attn is None else self.attn(x)
