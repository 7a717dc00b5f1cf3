"""Tiny randomly initialised diffusers models saved into a folder, as a user's model would be (no downloads).

``pixel_model`` writes a ``UNet2DModel`` (unconditional or class-conditional) with its scheduler;
``text_to_image_model`` writes a Stable Diffusion-style folder: ``UNet2DConditionModel``, a
``CLIPTextModel`` with a tokenizer whose vocabulary is written here, an ``AutoencoderKL`` and the
scheduler. Weights are stored as safetensors, the only format the adapters read.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

PIXEL_SHAPE = (3, 8, 8)
IMAGE_SHAPE = (3, 8, 8)  # decoded by the tiny VAE from latents (4, 4, 4)
LATENT_SHAPE = (4, 4, 4)
PROMPT_LENGTH = 10


def _scheduler_config(prediction_type: str, beta_schedule: str) -> dict:
    betas = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012)}[beta_schedule]
    return {
        "_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_start": betas[0], "beta_end": betas[1],
        "beta_schedule": beta_schedule, "prediction_type": prediction_type, "clip_sample": False, "steps_offset": 1,
    }


def write_scheduler(folder: Path, prediction_type: str = "epsilon", beta_schedule: str = "linear") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scheduler_config.json").write_text(json.dumps(_scheduler_config(prediction_type, beta_schedule)))


def pixel_model(folder: Path, num_classes: int = 0, prediction_type: str = "epsilon", seed: int = 0,
                learned_variance: bool = False) -> Path:
    """A UNet2DModel for 3x8x8 images in ``folder/unet`` and its DDPM scheduler in ``folder/scheduler``."""
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=6 if learned_variance else 3, block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1, norm_num_groups=4, attention_head_dim=4,
        num_class_embeds=(num_classes + 1) if num_classes else None,  # one more: the null class for guidance
    )
    _randomize(unet)
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    write_scheduler(folder / "scheduler", prediction_type)
    return folder


def write_tokenizer(folder: Path) -> None:
    """A CLIP tokenizer over single letters (every word is spelled out), padded to PROMPT_LENGTH tokens."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for letter in string.ascii_lowercase:
            vocab[letter + suffix] = len(vocab)
    CLIPTokenizer(vocab=vocab, merges=[], model_max_length=PROMPT_LENGTH).save_pretrained(folder)


def text_to_image_model(folder: Path, prediction_type: str = "epsilon", seed: int = 0) -> Path:
    """A Stable Diffusion-style folder (unet, vae, text_encoder, tokenizer, scheduler) for 3x8x8 images."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=4, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4,
    )
    _randomize(unet)
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, sample_size=8, scaling_factor=0.5,
    )
    vae.save_pretrained(folder / "vae", safe_serialization=True)
    text_config = CLIPTextConfig(
        vocab_size=2 + 2 * 26, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=PROMPT_LENGTH, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )
    CLIPTextModel(text_config).save_pretrained(folder / "text_encoder", safe_serialization=True)
    write_tokenizer(folder / "tokenizer")
    write_scheduler(folder / "scheduler", prediction_type, beta_schedule="scaled_linear")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return folder


def _randomize(module: torch.nn.Module) -> None:
    """diffusers zero-initialises output convolutions; random weights make every path of the net count."""
    with torch.no_grad():
        for p in module.parameters():
            if p.ndim > 1 and not p.abs().any():
                p.normal_(0, 0.1)
