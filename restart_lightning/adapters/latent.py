"""The latent space of a latent diffusion model: its shape, and decoding samples with the model's VAE.

A latent model's denoiser works on latents z; its samples are images only after decoding,
``x = vae.decode(z / scaling_factor + shift_factor)``, the convention of diffusers' pipelines
(the scaling factor and the optional shift come from the VAE's config). A denoiser that carries a
``latent_space`` attribute is sampled in ``latent_space.shape(data_shape)`` and its samples are
decoded before metrics, pictures and files see them (``evaluation.generation.generate_batches``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class LatentSpace(nn.Module):
    """Latents of ``latent_channels`` x (H / downscale) x (W / downscale) for images of C x H x W.

    Args:
        vae: a module with ``decode(z) -> output`` whose first item (or ``.sample``) is the image batch.
        latent_channels, downscale, image_channels: the VAE's latent channels, spatial factor
            (2^(levels - 1) in diffusers) and decoded channels.
        scaling_factor, shift_factor: the latents' normalisation (diffusers' VAE config).
    The VAE decodes in its own dtype; the images come back as float32.
    """

    def __init__(self, vae: nn.Module, latent_channels: int, downscale: int, image_channels: int,
                 scaling_factor: float, shift_factor: float | None = None) -> None:
        super().__init__()
        if not scaling_factor > 0:
            raise ValueError(f"vae scaling_factor must be > 0, got {scaling_factor}")
        self.vae = vae
        self.latent_channels, self.downscale, self.image_channels = latent_channels, downscale, image_channels
        self.scaling_factor, self.shift_factor = float(scaling_factor), float(shift_factor or 0.0)

    def shape(self, data_shape: Sequence[int]) -> tuple[int, int, int]:
        """The latent shape of images of ``data_shape`` (C, H, W); ValueError if they do not fit the VAE."""
        data_shape = tuple(int(s) for s in data_shape)
        if len(data_shape) != 3 or data_shape[0] != self.image_channels or any(
                s % self.downscale or s < self.downscale for s in data_shape[1:]):
            raise ValueError(
                f"data.data_shape: {list(data_shape)} does not fit the model's VAE: expected "
                f"[{self.image_channels}, H, W] with H and W multiples of {self.downscale}"
            )
        return (self.latent_channels, data_shape[1] // self.downscale, data_shape[2] // self.downscale)

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Images in [-1, 1], float32, from latents (any float dtype)."""
        dtype = next(self.vae.parameters()).dtype
        z = latents.to(dtype) / self.scaling_factor + self.shift_factor
        out = self.vae.decode(z)
        images = out.sample if hasattr(out, "sample") else out[0]
        return images.float().clamp(-1, 1)

    def extra_repr(self) -> str:
        return (f"latent_channels={self.latent_channels}, downscale={self.downscale}, "
                f"scaling_factor={self.scaling_factor}, shift_factor={self.shift_factor}")
