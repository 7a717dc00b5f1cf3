"""DINOv2 ViT-L/14 features for FD-DINOv2 (Stein et al. 2023; the second metric EDM2 reports).

What EDM2's ``calculate_metrics.py`` computes, offline: uint8 RGB images are resized to 224x224
(torch bicubic, antialiased), scaled to [0, 1], normalised with the ImageNet mean and std, and
mapped to the 1024-d class token after the final layer norm of ``dinov2_vitl14``.

Weights: the file that ``torch.hub`` loads for ``dinov2_vitl14`` (``dinov2_vitl14_pretrain.pth``,
a plain state dict, read with ``weights_only=True``). Architecture: transformers' ``Dinov2Model``
(the optional ``transformers`` dependency: ``pip install 'restart-lightning[metrics]'``); the hub
checkpoint's tensors are assigned to it module by module, and its 37x37 position embeddings are
resampled once to the 16x16 patch grid of a 224x224 input exactly as the hub model does at run
time (bicubic with ``scale_factor = (16 + 0.1) / 37``, its ``interpolate_offset``), so the network
never resamples them itself.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restart_lightning.metrics.features import rgb_uint8
from restart_lightning.metrics.weights import resolve_dinov2_weights

INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HEAD_DIM = 64  # every DINOv2 backbone: ViT-S/B/L/g have 6/12/16/24 heads of 64
HUB_INTERPOLATE_OFFSET = 0.1


def _transformers():
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            "FD-DINOv2 needs transformers (its Dinov2Model is the architecture): "
            "pip install 'restart-lightning[metrics]'"
        ) from error
    return transformers


def resample_position_embeddings(pos_embed: Tensor, grid: int) -> Tensor:
    """[1, 1 + M*M, D] -> [1, 1 + grid*grid, D], as the hub's ``interpolate_pos_encoding`` does."""
    cls, patches = pos_embed[:, :1].float(), pos_embed[:, 1:].float()
    m = math.isqrt(patches.shape[1])
    if m * m != patches.shape[1]:
        raise ValueError(f"pos_embed holds {patches.shape[1]} patch positions, not a square grid")
    if m == grid:
        return pos_embed
    scale = (grid + HUB_INTERPOLATE_OFFSET) / m
    resized = F.interpolate(patches.reshape(1, m, m, -1).permute(0, 3, 1, 2), scale_factor=(scale, scale),
                            mode="bicubic", antialias=False)
    if resized.shape[-2:] != (grid, grid):
        raise AssertionError(f"resampled grid {tuple(resized.shape[-2:])} != {grid}")
    return torch.cat([cls, resized.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)], dim=1).to(pos_embed.dtype)


def _attention_linears(layer: nn.Module) -> tuple[nn.Linear, nn.Linear, nn.Linear, nn.Linear]:
    """(query, key, value, output) projections of a transformers Dinov2 layer, in 4.x and 5.x naming."""
    attention = layer.attention
    if hasattr(attention, "q_proj"):
        return attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj
    return attention.attention.query, attention.attention.key, attention.attention.value, attention.output.dense


def load_dinov2(path: str | os.PathLike, image_size: int = INPUT_SIZE) -> nn.Module:
    """transformers ``Dinov2Model`` holding the hub checkpoint at ``path`` (ViT-S/B/L/14 with MLP blocks).

    The size (width, depth, patch, heads = width / 64) is read from the tensors. Every tensor of
    the file is used and every parameter of the model is set; anything else is a ValueError.
    """
    transformers = _transformers()
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:  # foreign/truncated
        raise ValueError(f"dinov2_weights: '{path}' is not a readable PyTorch weights file ({error})") from None
    if not isinstance(state, dict) or "cls_token" not in state or "blocks.0.norm1.weight" not in state:
        raise ValueError(f"dinov2_weights: '{path}' is not a DINOv2 state dict (no cls_token / blocks.0.*)")
    if "blocks.0.mlp.fc1.weight" not in state:
        raise ValueError(f"dinov2_weights: '{path}' is not a ViT-S/B/L/14 checkpoint with MLP blocks "
                         "(SwiGLU ViT-g and register variants are not supported)")
    width = state["cls_token"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    patch = state["patch_embed.proj.weight"].shape[-1]
    hidden = state["blocks.0.mlp.fc1.weight"].shape[0]
    if width % HEAD_DIM or hidden % width:
        raise ValueError(f"dinov2_weights: '{path}' has width {width} and MLP width {hidden}; DINOv2 backbones have "
                         f"a multiple of {HEAD_DIM} and an integer multiple of the width")
    config = transformers.Dinov2Config(
        hidden_size=width, num_hidden_layers=depth, num_attention_heads=width // HEAD_DIM,
        mlp_ratio=hidden // width, patch_size=patch, image_size=image_size,
        layer_norm_eps=1e-6, hidden_act="gelu", qkv_bias=True, layerscale_value=1.0,
    )
    with torch.device("meta"):
        model = transformers.Dinov2Model(config)
    names = {id(p): name for name, p in model.named_parameters()}
    converted: dict[str, Tensor] = {}
    used: set[str] = set()

    def put(parameter: nn.Parameter, key: str, value: Tensor | None = None) -> None:
        used.add(key)
        converted[names[id(parameter)]] = (state[key] if value is None else value).float()

    embeddings = model.embeddings
    put(embeddings.cls_token, "cls_token")
    put(embeddings.mask_token, "mask_token", state["mask_token"].reshape(1, width))
    put(embeddings.position_embeddings, "pos_embed",
        resample_position_embeddings(state["pos_embed"], image_size // patch))
    put(embeddings.patch_embeddings.projection.weight, "patch_embed.proj.weight")
    put(embeddings.patch_embeddings.projection.bias, "patch_embed.proj.bias")
    for i, layer in enumerate(model.encoder.layer):
        hub = f"blocks.{i}."
        query, key, value, output = _attention_linears(layer)
        for linear, part in zip((query, key, value), state[hub + "attn.qkv.weight"].chunk(3), strict=True):
            put(linear.weight, hub + "attn.qkv.weight", part)
        for linear, part in zip((query, key, value), state[hub + "attn.qkv.bias"].chunk(3), strict=True):
            put(linear.bias, hub + "attn.qkv.bias", part)
        pairs = {output: "attn.proj", layer.norm1: "norm1", layer.norm2: "norm2",
                 layer.mlp.fc1: "mlp.fc1", layer.mlp.fc2: "mlp.fc2"}
        for module, name in pairs.items():
            put(module.weight, f"{hub}{name}.weight")
            put(module.bias, f"{hub}{name}.bias")
        put(layer.layer_scale1.lambda1, hub + "ls1.gamma")
        put(layer.layer_scale2.lambda1, hub + "ls2.gamma")
    put(model.layernorm.weight, "norm.weight")
    put(model.layernorm.bias, "norm.bias")
    unused = sorted(set(state) - used)
    if unused:
        raise ValueError(f"dinov2_weights: '{path}' holds tensors this architecture does not use: {unused[:5]}")
    try:
        model.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as error:
        raise ValueError(f"dinov2_weights: '{path}' does not fit the architecture it implies ({error})") from None
    return model.eval().requires_grad_(False)


class DINOv2Features(nn.Module):
    """DINOv2 class-token features of images in [-1, 1] (or uint8): 1024-d for ViT-L/14, EDM2's preprocessing.

    Args:
        weights_path: the hub's ``dinov2_vitl14_pretrain.pth`` (default in the cache directory); must
            exist, nothing is downloaded (FileNotFoundError saying how to get it).
    """

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.model = load_dinov2(resolve_dinov2_weights(weights_path))
        self.num_features = int(self.model.config.hidden_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> DINOv2Features:
        """Stay in evaluation mode whatever a parent module asks."""
        return super().train(False)

    def preprocess(self, x: Tensor) -> Tensor:
        """EDM2's input: uint8 RGB -> float, bicubic antialiased resize to 224, /255, ImageNet normalisation."""
        pixels = rgb_uint8(x, "DINOv2").to(torch.float32)
        pixels = F.interpolate(pixels, size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True)
        return (pixels / 255 - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        return self.model(pixel_values=self.preprocess(x)).pooler_output.float()
