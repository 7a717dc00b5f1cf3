"""The error-by-sigma picture, drawn with Pillow (a dependency already; matplotlib is not).

Top panel: the learned denoiser's loss and the exact one's; bottom panel: the excess (loss - exact
loss) with a +-2 stderr band, the error band shaded. x: log10 sigma, with a tick per decade.
"""

from __future__ import annotations

import math

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from restart_lightning.tuning.error_profile import ErrorProfile

WIDTH, PANEL, MARGIN_L, MARGIN_R, MARGIN_T, GAP = 720, 220, 70, 20, 28, 48
BLUE, ORANGE, RED, GREY, BLACK, SHADE = (31, 119, 180), (255, 127, 14), (214, 39, 40), (150, 150, 150), (0, 0, 0), \
    (255, 228, 196)


def _panel(draw: ImageDraw.ImageDraw, top: int, xs: list[float], curves: list[tuple[list[float], tuple]],
           title: str, spread: tuple[list[float], list[float]] | None = None,
           shade: tuple[float, float] | None = None) -> None:
    x0, x1, y0, y1 = MARGIN_L, WIDTH - MARGIN_R, top, top + PANEL
    values = [v for ys, _ in curves for v in ys] + ([v for band in spread for v in band] if spread else [])
    lo, hi = min(min(values), 0.0), max(values)
    hi = hi if hi > lo else lo + 1.0
    xmin, xmax = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1.0

    def px(x: float) -> float:
        return x0 + (x - xmin) / (xmax - xmin) * (x1 - x0)

    def py(y: float) -> float:
        return y1 - (y - lo) / (hi - lo) * (y1 - y0)

    if shade is not None:
        draw.rectangle([px(shade[0]), y0, px(shade[1]), y1], fill=SHADE)
    draw.rectangle([x0, y0, x1, y1], outline=BLACK)
    draw.text((x0, y0 - 16), title, fill=BLACK)
    for decade in range(math.ceil(xmin), math.floor(xmax) + 1):
        draw.line([px(decade), y1, px(decade), y1 + 4], fill=BLACK)
        draw.text((px(decade) - 12, y1 + 6), f"1e{decade}", fill=BLACK)
    for k in range(5):
        y = lo + (hi - lo) * k / 4
        draw.line([x0 - 4, py(y), x0, py(y)], fill=BLACK)
        draw.text((4, py(y) - 6), f"{y:.3g}", fill=BLACK)
    if lo < 0 < hi:
        draw.line([x0, py(0.0), x1, py(0.0)], fill=GREY)
    if spread is not None:
        upper, lower = spread
        polygon = [(px(x), py(u)) for x, u in zip(xs, upper)] + [(px(x), py(v)) for x, v in zip(xs[::-1], lower[::-1])]
        draw.polygon(polygon, outline=GREY)
    for ys, colour in curves:
        draw.line([(px(x), py(y)) for x, y in zip(xs, ys)], fill=colour, width=2)


def error_profile_image(profile: ErrorProfile, band: tuple[float, float] | None = None) -> Image.Image:
    """The picture (RGB) of ``profile``; ``band`` (sigma_lo, sigma_hi) is shaded in the excess panel."""
    xs = [math.log10(s) for s in profile.sigmas]
    two_panels = profile.exact_loss is not None
    height = MARGIN_T + PANEL + (GAP + PANEL if two_panels else 0) + 40
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    n = profile.num_samples
    curves = [(profile.loss, BLUE)] + ([(profile.exact_loss, ORANGE)] if two_panels else [])
    names = "loss (blue), exact denoiser's loss (orange)" if two_panels else "loss"
    _panel(draw, MARGIN_T, xs, curves, f"training-weighted denoising loss per sigma: {names}; n = {n}")
    if two_panels:
        excess, err = profile.excess(), profile.excess_stderr or [0.0] * len(xs)
        spread = ([e + 2 * s for e, s in zip(excess, err)], [e - 2 * s for e, s in zip(excess, err)])
        shade = (math.log10(band[0]), math.log10(band[1])) if band is not None else None
        _panel(draw, MARGIN_T + PANEL + GAP, xs, [(excess, RED)],
               "excess = loss - exact loss (+-2 stderr; shaded: the error band)", spread, shade)
    draw.text((WIDTH // 2 - 20, height - 18), "log10 sigma", fill=BLACK)
    return image


def image_tensor(image: Image.Image) -> Tensor:
    """uint8 [3, H, W] (TensorBoard's add_image layout)."""
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).reshape(image.height, image.width, 3) \
        .permute(2, 0, 1).contiguous()


__all__ = ["error_profile_image", "image_tensor"]
