"""A configurable U-Net for images, covering DDPM++ (EDM's CIFAR-10 network) and ADM (ImageNet-64).

The network is the raw ``F`` of the preconditioning ``D = c_skip x + c_out F(c_in x, c_noise)``
(Karras et al. 2022). Architecture after Song et al. 2021 (DDPM++) and Dhariwal & Nichol 2021
(ADM), as re-implemented in EDM; this is the project's own code.

Shape of the network for ``channel_mult = [m_0, ..., m_{L-1}]``, level ``l`` at resolution
``resolution / 2^l`` with ``base_channels * m_l`` channels:

- mapping: ``emb = SiLU(W1 SiLU(W0 (embed(c_noise) + embed(label))))`` of width
  ``base_channels * emb_mult``;
- encoder: a 3x3 input conv, then per level a down-sampling residual block (levels > 0) and
  ``num_blocks`` residual blocks (attention at ``attn_resolutions``); every output is kept as a skip;
- decoder: at the lowest level two bottleneck blocks (the first with attention), otherwise an
  up-sampling block; then ``num_blocks + 1`` residual blocks, each taking one skip
  (concatenated); attention on the last block of a level (DDPM++) or on all of them
  (``decoder_attn_all_blocks``, ADM);
- output: GroupNorm, SiLU, 3x3 conv initialised to zero (so F = 0 at initialisation).

Presets: :func:`ddpmpp_cifar10` (the defaults of :class:`UNet`, ~55.7M parameters) and
:func:`adm_imagenet64` (~295M parameters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from restart_lightning.constraints import (
    FinitePositiveFloat,
    HalfOpenUnitInterval,
    NonNegativeInteger,
    PositiveInteger,
    UnitInterval,
    check_arguments,
)
from restart_lightning.memory import BYTES_PER_PARAMETER, check_parameter_memory
from restart_lightning.networks.embedding import label_rows
from restart_lightning.networks.unet_blocks import ResidualBlock
from restart_lightning.networks.unet_layers import (
    FourierEmbedding,
    PositionalEmbedding,
    group_norm,
    init_xavier_,
    init_zeros_,
)

__all__ = ["UNet", "adm_imagenet64", "ddpmpp_cifar10"]


SKIP_SCALE = math.sqrt(0.5)  # DDPM++: a residual sum (skip + branch) scaled back to unit variance

class UNet(nn.Module):
    """U-Net ``F(x, c_noise, labels=None) -> Tensor`` of the shape of ``x``; defaults = DDPM++ CIFAR-10.

    Args:
        resolution: input height and width (divisible by ``2^(len(channel_mult) - 1)``).
        in_channels: image channels at the input.
        out_channels: channels at the output; ``None`` means ``in_channels``.
        base_channels: channel unit; level ``l`` has ``base_channels * channel_mult[l]`` channels.
        channel_mult: per-resolution channel multipliers (one level per entry).
        emb_mult: width of the noise/label embedding is ``base_channels * emb_mult``.
        num_blocks: residual blocks per resolution in the encoder (decoder: ``num_blocks + 1``).
        attn_resolutions: resolutions at which blocks carry self-attention.
        dropout: dropout probability inside residual blocks.
        num_classes: number of classes; 0 = unconditional (labels ignored). Labels are int64
            indices ``[B]``; -1 (or ``labels=None``) is the null class used by guidance.
        label_dropout: probability of replacing a label by -1 during training.
        num_heads: attention heads when ``channels_per_head == 0``.
        channels_per_head: if > 0, heads = channels // channels_per_head (ADM uses 64).
        embedding_type: ``"positional"`` (sinusoidal, DDPM++/ADM) or ``"fourier"`` (NCSN++).
        fourier_scale: std of the random frequencies for ``embedding_type="fourier"``.
        adaptive_scale: modulate by scale and shift after GroupNorm (ADM) instead of a shift
            added before it (DDPM++).
        skip_scale: factor applied after each residual sum (DDPM++: sqrt(1/2); ADM: 1).
        resample_proj: 1x1 conv on the skip path of resampling blocks (DDPM++: yes; ADM: no).
        decoder_attn_all_blocks: attention on every decoder block at an attention resolution
            (ADM) instead of only on the last block of the level (DDPM++).
    """

    def __init__(
        self,
        resolution: PositiveInteger = 32,
        in_channels: PositiveInteger = 3,
        out_channels: PositiveInteger | None = None,
        base_channels: PositiveInteger = 128,
        channel_mult: Sequence[PositiveInteger] = (2, 2, 2),
        emb_mult: PositiveInteger = 4,
        num_blocks: NonNegativeInteger = 4,
        attn_resolutions: Sequence[PositiveInteger] = (16,),
        dropout: HalfOpenUnitInterval = 0.13,
        num_classes: NonNegativeInteger = 0,
        label_dropout: UnitInterval = 0.0,
        num_heads: PositiveInteger = 1,
        channels_per_head: NonNegativeInteger = 0,
        embedding_type: Literal["positional", "fourier"] = "positional",
        fourier_scale: FinitePositiveFloat = 16.0,
        adaptive_scale: bool = False,
        skip_scale: FinitePositiveFloat = SKIP_SCALE,
        resample_proj: bool = True,
        decoder_attn_all_blocks: bool = False,
    ) -> None:
        super().__init__()
        check_arguments(UNet.__init__, locals(), "UNet")
        _check_args(resolution, base_channels, channel_mult, num_blocks, emb_mult,
                    in_channels + (in_channels if out_channels is None else out_channels), num_classes)
        for level, mult in enumerate(channel_mult):  # every attention block's channels split into equal heads
            if (resolution >> level) not in attn_resolutions and level != len(channel_mult) - 1:
                continue  # no attention at this level (the lowest one always has the bottleneck's)
            channels = base_channels * mult
            heads = channels // channels_per_head if channels_per_head > 0 else num_heads
            if heads < 1 or channels % heads:
                field = "channels_per_head" if channels_per_head > 0 else "num_heads"
                raise ValueError(
                    f"UNet.{field}: invalid value {channels_per_head or num_heads}; allowed: a value giving a whole "
                    f"number of heads in every attention block ({channels} channels at {resolution >> level}x"
                    f"{resolution >> level})"
                )
        self.resolution = resolution
        self.in_channels = in_channels
        self.out_channels = in_channels if out_channels is None else out_channels
        self.num_classes = num_classes
        self.label_dropout = label_dropout
        emb_channels = base_channels * emb_mult

        # Mapping: noise (+ label) embedding -> two-layer MLP.
        if embedding_type == "positional":
            self.map_noise: nn.Module = PositionalEmbedding(base_channels)
        else:
            self.map_noise = FourierEmbedding(base_channels, scale=fourier_scale)
        self.map_label = nn.Embedding(num_classes + 1, base_channels) if num_classes > 0 else None
        self.map_layer0 = init_xavier_(nn.Linear(base_channels, emb_channels))
        self.map_layer1 = init_xavier_(nn.Linear(emb_channels, emb_channels))

        def block(cin: int, cout: int, res: int = 0, attention: bool = False, **kw) -> ResidualBlock:
            heads = cout // channels_per_head if channels_per_head > 0 else num_heads
            return ResidualBlock(
                cin, cout, emb_channels, attention=attention, num_heads=heads, dropout=dropout,
                skip_scale=skip_scale, adaptive_scale=adaptive_scale, resample_proj=resample_proj, **kw,
            )

        # Encoder.
        self.conv_in = init_xavier_(nn.Conv2d(in_channels, base_channels, 3, padding=1))
        self.enc = nn.ModuleDict()
        skips, cout = [base_channels], base_channels
        for level, mult in enumerate(channel_mult):
            res = resolution >> level
            if level > 0:
                self.enc[f"{res}x{res}_down"] = block(cout, cout, resample="down")
                skips.append(cout)
            for i in range(num_blocks):
                cin, cout = cout, base_channels * mult
                self.enc[f"{res}x{res}_block{i}"] = block(cin, cout, attention=res in attn_resolutions)
                skips.append(cout)

        # Decoder; blocks named "..._block*" take one skip.
        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = block(cout, cout, attention=True)
                self.dec[f"{res}x{res}_in1"] = block(cout, cout)
            else:
                self.dec[f"{res}x{res}_up"] = block(cout, cout, resample="up")
            for i in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), base_channels * mult
                attn = res in attn_resolutions and (decoder_attn_all_blocks or i == num_blocks)
                self.dec[f"{res}x{res}_block{i}"] = block(cin, cout, attention=attn)

        self.norm_out = group_norm(cout)
        self.conv_out = init_zeros_(nn.Conv2d(cout, self.out_channels, 3, padding=1))

    def embed(self, c_noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The embedding vector ``[B, base_channels * emb_mult]`` of noise level and label."""
        emb = self.map_noise(c_noise)
        if self.map_label is not None:
            dropout = self.label_dropout if self.training else 0.0
            emb = emb + self.map_label(label_rows(labels, c_noise.shape[0], self.num_classes, dropout, c_noise.device))
        emb = F.silu(self.map_layer0(emb))
        return F.silu(self.map_layer1(emb))

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``F(x, c_noise, labels)``; ``c_noise`` of shape ``[B]`` (or a scalar), output shaped like ``x``.

        Inputs are cast to the parameters' dtype (autocast still applies on top).
        """
        dtype = self.conv_in.weight.dtype
        x = x.to(dtype)
        c_noise = torch.as_tensor(c_noise, device=x.device).to(dtype).reshape(-1).expand(x.shape[0])
        emb = self.embed(c_noise, labels)

        h = self.conv_in(x)
        skips = [h]
        for blk in self.enc.values():
            h = blk(h, emb)
            skips.append(h)
        for name, blk in self.dec.items():
            if "_block" in name:
                h = torch.cat([h, skips.pop()], dim=1)
            h = blk(h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def _check_args(
    resolution: int, base_channels: int, channel_mult: Sequence[int], num_blocks: int, emb_mult: int,
    image_channels: int = 6, num_classes: int = 0,
) -> None:
    """What the typed constraints cannot say: shapes that fit together, and a size that fits into memory."""
    if len(channel_mult) == 0:
        raise ValueError("UNet.channel_mult: invalid value []; allowed: a non-empty list of integers >= 1")
    if resolution % (2 ** (len(channel_mult) - 1)):
        raise ValueError(
            f"UNet.resolution: invalid value {resolution}; allowed: a multiple of 2^(len(channel_mult) - 1) = "
            f"{2 ** (len(channel_mult) - 1)}"
        )
    if base_channels % 2:
        raise ValueError(f"UNet.base_channels: invalid value {base_channels}; allowed: an even integer")
    # A lower bound of the size (two 3x3 convolutions per block) and ~16 KiB of Python objects per block.
    blocks = len(channel_mult) * (2 * num_blocks + 3)
    weights = sum((2 * num_blocks + 3) * 18 * (base_channels * m) ** 2 for m in channel_mult)
    weights += (base_channels * emb_mult) ** 2 + (num_classes + 1) * base_channels  # mapping, label table
    weights += 9 * image_channels * base_channels * min(channel_mult)  # input and output convolutions
    check_parameter_memory(
        f"UNet (base_channels={base_channels}, channel_mult={list(channel_mult)}, num_blocks={num_blocks}, "
        f"in/out channels {image_channels}, num_classes={num_classes})",
        weights + blocks * 16384 // BYTES_PER_PARAMETER,
    )


def ddpmpp_cifar10(num_classes: int = 0, label_dropout: float = 0.0, dropout: float = 0.13) -> UNet:
    """EDM's DDPM++ network for CIFAR-10 32x32 (the defaults of :class:`UNet`; ~55.7M parameters)."""
    return UNet(num_classes=num_classes, label_dropout=label_dropout, dropout=dropout)


def adm_imagenet64(num_classes: int = 1000, label_dropout: float = 0.0, dropout: float = 0.1) -> UNet:
    """ADM (Dhariwal & Nichol) as EDM uses it on class-conditional ImageNet 64x64 (~295M parameters)."""
    return UNet(
        resolution=64, in_channels=3, base_channels=192, channel_mult=(1, 2, 3, 4), num_blocks=3,
        attn_resolutions=(32, 16, 8), dropout=dropout, num_classes=num_classes, label_dropout=label_dropout,
        channels_per_head=64, adaptive_scale=True, skip_scale=1.0, resample_proj=False,
        decoder_attn_all_blocks=True,
    )
