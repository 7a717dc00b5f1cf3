"""A diffusers UNet (``UNet2DModel``, ``UNet2DConditionModel``) as the denoiser D(x, sigma, labels).

The network sees x_t = x / sqrt(1 + sigma^2) and the fractional timestep of sigma; its output
(epsilon, v or the sample) becomes D through ``DiscreteVPPreconditioning``. Labels become the
UNet's ``class_labels`` or, for text-conditional models, the prompt embeddings it cross-attends to
(``encoder_hidden_states``); see ``adapters.conditioning``. A latent model's denoiser carries its
``LatentSpace`` so that samples are decoded before anything scores or shows them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from restart_lightning.adapters.conditioning import ClassConditioning, PromptConditioning
from restart_lightning.adapters.discrete import DiscreteVPPreconditioning
from restart_lightning.adapters.latent import LatentSpace
from restart_lightning.preconditioning import Denoiser


class DiffusersUNet(nn.Module):
    """F(x_t, t, labels) = ``unet(x_t, t, **conditioning(labels))``, as a plain tensor.

    A UNet with twice the input's output channels (a learned variance, as in IDDPM/ADM) predicts
    epsilon (or v) in its first half; the variance half is not used by ODE or SDE samplers.
    """

    def __init__(self, unet: nn.Module, conditioning: nn.Module | None = None) -> None:
        super().__init__()
        self.unet = unet
        self.conditioning = conditioning

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def forward(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.conditioning is None:
            if labels is not None:
                raise ValueError("this model is unconditional: it takes no labels (set the data's num_classes to 0 "
                                 "and guidance_scale to 1)")
            extra: dict[str, Any] = {}
        else:
            extra = self.conditioning(labels)
        extra = {k: v.to(self.dtype) if torch.is_floating_point(v) else v for k, v in extra.items()}
        out = self.unet(x_t.to(self.dtype), t, return_dict=False, **extra)[0]
        channels = x_t.shape[1]
        return out[:, :channels] if out.shape[1] == 2 * channels else out


class DiffusersDenoiser(Denoiser):
    """D(x, sigma, labels) of a diffusers UNet trained on the schedule ``alphas_cumprod``.

    Args:
        unet: the diffusers UNet.
        alphas_cumprod: its training schedule's alphabar_t, t = 0..T-1.
        prediction_type: ``epsilon``, ``v_prediction`` or ``sample``.
        conditioning: ``ClassConditioning`` or ``PromptConditioning`` (None: unconditional).
        latent_space: the VAE's ``LatentSpace`` for a latent model (None: a pixel model).
        sigma_data: the data's standard deviation (read by tuning only).
    ``sigma_min``/``sigma_max`` are sigma(0) and sigma(T - 1).
    """

    def __init__(self, unet: nn.Module, alphas_cumprod: Tensor, prediction_type: str = "epsilon",
                 conditioning: nn.Module | None = None, latent_space: LatentSpace | None = None,
                 sigma_data: float = 0.5) -> None:
        super().__init__(DiffusersUNet(unet, conditioning),
                         DiscreteVPPreconditioning(alphas_cumprod, prediction_type, sigma_data))
        self.latent_space = latent_space

    @property
    def dtype(self) -> torch.dtype:
        """The UNet's dtype: what the samplers cast the state to."""
        return self.net.dtype


def denoiser_from_components(components: Any, prediction_type: str | None = None, num_classes: int = 0,
                             null_class_label: int | None = None, sigma_data: float = 0.5) -> DiffusersDenoiser:
    """The denoiser of loaded ``DiffusersComponents`` (``adapters.diffusers_loading``).

    Text-conditional if the folder has a text encoder, class-conditional if the UNet has class
    embeddings (``num_classes`` of them); ``prediction_type`` overrides the scheduler config's.
    """
    unet, config = components.unet, components.unet.config
    conditioning: nn.Module | None = None
    if components.text_encoder is not None:
        use_mask = bool(getattr(components.text_encoder.config, "use_attention_mask", False))
        conditioning = PromptConditioning(components.text_encoder, use_attention_mask=use_mask)
    elif config.get("num_class_embeds") or config.get("class_embed_type"):
        count = int(config.get("num_class_embeds") or num_classes)
        conditioning = ClassConditioning(count, "class_labels", null_class_label)
    elif config.get("cross_attention_dim") and type(unet).__name__ == "UNet2DConditionModel":
        raise ValueError("model.path: this UNet2DConditionModel cross-attends to text, but the folder has no "
                         "text_encoder/ and tokenizer/")
    latent_space = None
    if components.vae is not None:
        vae_config = components.vae.config
        latent_space = LatentSpace(
            components.vae, int(vae_config.latent_channels), 2 ** (len(vae_config.block_out_channels) - 1),
            int(vae_config.out_channels), float(vae_config.scaling_factor), vae_config.get("shift_factor"),
        )
        if int(config.in_channels) != latent_space.latent_channels:
            raise ValueError(f"model.path: the UNet takes {config.in_channels} channels but the VAE's latents have "
                             f"{latent_space.latent_channels} (inpainting and other extra-input UNets are not "
                             "supported)")
    return DiffusersDenoiser(unet, components.alphas_cumprod, prediction_type or components.prediction_type,
                             conditioning, latent_space, sigma_data)
