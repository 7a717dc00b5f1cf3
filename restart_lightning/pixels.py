"""Conversions between the model's image range [-1, 1] and 8-bit pixels [0, 255].

There is exactly one float -> uint8 conversion in the project (``to_uint8``) so that
saved pictures, FID inputs and reference statistics all quantise identically.
"""

from __future__ import annotations

import torch
from torch import Tensor


def to_uint8(images: Tensor) -> Tensor:
    """Quantise images from [-1, 1] to uint8 [0, 255], rounding half up.

    pixel = clamp(floor((x + 1) * 127.5 + 0.5), 0, 255), computed as
    floor(x * 127.5 + 128) in float32, which is exactly EDM's ``x * 127.5 + 128``
    followed by ``clip(0, 255)`` and truncation to uint8. Known values:
    -1 -> 0, 0 -> 128 (127.5 rounds up), 1 -> 255, values outside [-1, 1] clamp to
    0 or 255, +-inf clamp likewise and NaN maps to 0.

    Args:
        images: float tensor of any shape, nominally in [-1, 1].

    Returns:
        uint8 tensor of the same shape and device.
    """
    if not torch.is_floating_point(images):
        raise TypeError(f"to_uint8 expects a floating point tensor in [-1, 1], got dtype {images.dtype}")
    x = images.float().nan_to_num(nan=-1.0)
    return torch.floor(x * 127.5 + 128.0).clamp_(0.0, 255.0).to(torch.uint8)


def from_uint8(pixels: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Map uint8 pixels [0, 255] to the model range [-1, 1]: x = p / 127.5 - 1.

    The inverse of ``to_uint8`` on its image: ``to_uint8(from_uint8(p)) == p`` for
    every p in 0..255 (used for real/reference data stored as 8-bit pixels).
    """
    if pixels.dtype != torch.uint8:
        raise TypeError(f"from_uint8 expects a uint8 tensor, got dtype {pixels.dtype}")
    return pixels.to(dtype) / 127.5 - 1.0
