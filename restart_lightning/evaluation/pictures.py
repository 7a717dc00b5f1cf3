"""Pictures for TensorBoard: image grids, and 2-D sample densities beside the data's."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.utils import make_grid

from restart_lightning.pixels import to_uint8

# Tiles smaller than this are enlarged (nearest neighbour) so that 8x8 digits are readable in TensorBoard.
MIN_TILE = 32


def image_grid(images: Tensor, nrow: int = 8) -> Tensor:
    """uint8 [3 or 1, H, W] grid of images in [-1, 1]; tiles under MIN_TILE pixels are enlarged."""
    tiles = to_uint8(images.float()).cpu()
    scale = -(-MIN_TILE // max(tiles.shape[-2:]))  # ceil
    if scale > 1:
        tiles = tiles.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    return make_grid(tiles, nrow=nrow, padding=1, pad_value=255)


def density_image(points: Tensor, bounds: tuple[float, float, float, float], bins: int = 128) -> Tensor:
    """A 2-D histogram of points [N, 2] as a uint8 grey image [1, bins, bins], y pointing up.

    Counts are shown on a square-root scale so thin modes stay visible next to dense ones.
    """
    hist = _histogram2d(points, bounds, bins)
    hist = hist.flip(0).sqrt()
    scaled = hist / hist.max().clamp_min(1e-12)
    return (255 * (1 - scaled)).round().to(torch.uint8)[None]


def _histogram2d(points: Tensor, bounds: tuple[float, float, float, float], bins: int) -> Tensor:
    """Counts [bins (y), bins (x)] of the points inside ``bounds`` = (x0, x1, y0, y1)."""
    x0, x1, y0, y1 = bounds
    pts = points.double().cpu()
    ix = ((pts[:, 0] - x0) / (x1 - x0) * bins).floor().long()
    iy = ((pts[:, 1] - y0) / (y1 - y0) * bins).floor().long()
    keep = (ix >= 0) & (ix < bins) & (iy >= 0) & (iy < bins)
    flat = torch.bincount(iy[keep] * bins + ix[keep], minlength=bins * bins).double()
    return flat.reshape(bins, bins)


def bounds_of(reference: Tensor, margin: float = 0.15) -> tuple[float, float, float, float]:
    """A square window around the reference data, with a margin."""
    lo, hi = reference.min(0).values, reference.max(0).values
    center, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * (1 + margin)
    return (float(center[0]) - half, float(center[0]) + half, float(center[1]) - half, float(center[1]) + half)


def density_comparison(samples: Tensor, reference: Tensor, bins: int = 128) -> Tensor:
    """[1, bins, 2 bins + 4] uint8: the samples' density (left) beside the data's (right)."""
    bounds = bounds_of(reference)
    left, right = density_image(samples, bounds, bins), density_image(reference, bounds, bins)
    gap = torch.full((1, bins, 4), 128, dtype=torch.uint8)
    return torch.cat([left, gap, right], dim=2)
