"""Reading a diffusers model folder: the UNet, its training schedule, and (where present) VAE and text encoder.

Two layouts are read: a pipeline folder (``unet/``, ``scheduler/`` and optionally ``vae/``,
``text_encoder/`` + ``tokenizer/``, as ``save_pretrained`` of a pipeline writes it) and a bare UNet
folder (``config.json`` and ``scheduler_config.json`` side by side). Weights are read only from
safetensors files (``use_safetensors=True``): no file read here can run code. Nothing is downloaded
unless ``download=True``, which fetches a Hugging Face Hub repository's JSON, text and safetensors
files (never pickles) into the local cache first and then reads that folder the same way.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

UNET_CLASSES = ("UNet2DModel", "UNet2DConditionModel")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# What download=True fetches: configs, tokenizer files and safetensors weights, never pickles.
DOWNLOAD_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]


@dataclass
class DiffusersComponents:
    """What a folder holds: the UNet, its schedule's alphabar_t and prediction type, and optional parts."""

    unet: nn.Module
    alphas_cumprod: torch.Tensor
    prediction_type: str
    vae: nn.Module | None = None
    text_encoder: nn.Module | None = None
    tokenizer: Any = None


def _read_json(path: Path, field: str) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{field}: cannot read {path} ({error})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{field}: {path} is not a JSON object")
    return loaded


def resolve_folder(path: str, download: bool, revision: str | None = None) -> Path:
    """The local folder of ``path``; with ``download``, a Hub repository fetched (safetensors only) first."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        return folder
    if not download:
        raise FileNotFoundError(
            f"model.path: no folder at '{path}'; give a local diffusers model folder (save_pretrained), or set "
            "model.download true to fetch a Hugging Face Hub repository of that name"
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(path, revision=revision, allow_patterns=DOWNLOAD_PATTERNS))


def _subfolder(root: Path, name: str, config_name: str) -> str | None:
    """``name`` if ``root/name/config_name`` exists, "" if ``root/config_name`` does (bare layout), else None."""
    if (root / name / config_name).is_file():
        return name
    if (root / config_name).is_file():
        return ""
    return None


def load_components(path: str, torch_dtype: str = "float32", download: bool = False, variant: str | None = None,
                    revision: str | None = None) -> DiffusersComponents:
    """Every part of the diffusers model at ``path`` that the adapter uses (see module docstring)."""
    import diffusers

    if torch_dtype not in DTYPES:
        raise ValueError(f"model.torch_dtype: unknown value {torch_dtype!r}; allowed values: {', '.join(DTYPES)}")
    dtype = DTYPES[torch_dtype]
    root = resolve_folder(path, download, revision)
    unet_folder = _subfolder(root, "unet", "config.json")
    if unet_folder is None:
        raise FileNotFoundError(f"model.path: '{root}' holds neither unet/config.json nor config.json of a UNet")
    unet_config = _read_json(root / unet_folder / "config.json", "model.path")
    class_name = unet_config.get("_class_name")
    if class_name not in UNET_CLASSES:
        raise ValueError(f"model.path: {root / unet_folder / 'config.json'} describes a {class_name!r}; "
                         f"supported: {', '.join(UNET_CLASSES)}")
    check_unet_config(unet_config)
    options = {"torch_dtype": dtype, "use_safetensors": True, "local_files_only": True, "variant": variant,
               "low_cpu_mem_usage": importlib.util.find_spec("accelerate") is not None}
    unet = getattr(diffusers, class_name).from_pretrained(root, subfolder=unet_folder, **options)
    alphas_cumprod, prediction_type = load_schedule(root)
    vae = text_encoder = tokenizer = None
    if (root / "vae" / "config.json").is_file():
        vae = _load_vae(root, options, dtype)
    if (root / "text_encoder" / "config.json").is_file():
        text_encoder, tokenizer = _load_text_encoder(root, dtype)
    components = DiffusersComponents(unet, alphas_cumprod, prediction_type, vae, text_encoder, tokenizer)
    for module in (components.unet, components.vae, components.text_encoder):
        if module is not None:
            module.eval().requires_grad_(False)
    return components


def check_unet_config(config: dict[str, Any]) -> None:
    """Refuse UNets whose time input is not a discrete DDPM timestep, or that need added conditioning."""
    time_embedding = config.get("time_embedding_type", "positional")
    if time_embedding != "positional":
        raise ValueError(
            f"model.path: the UNet's time_embedding_type is {time_embedding!r}; only 'positional' (discrete DDPM "
            "timesteps) is supported"
        )
    if config.get("addition_embed_type"):
        raise ValueError(
            f"model.path: the UNet needs added conditioning (addition_embed_type={config['addition_embed_type']!r}, "
            "e.g. SDXL's pooled text and size embeddings), which is not supported"
        )


def load_schedule(root: Path) -> tuple[torch.Tensor, str]:
    """alphabar_t and the prediction type of the scheduler the model was trained with.

    The scheduler named in ``scheduler_config.json`` is built by diffusers from that config (so
    every beta schedule it knows is read the same way); it must be a discrete-time scheduler.
    """
    import diffusers

    folder = _subfolder(root, "scheduler", "scheduler_config.json")
    if folder is None:
        raise FileNotFoundError(f"model.path: '{root}' holds neither scheduler/scheduler_config.json nor "
                                "scheduler_config.json (the schedule the model was trained with)")
    config = _read_json(root / folder / "scheduler_config.json", "model.path")
    name = config.get("_class_name", "DDPMScheduler")
    scheduler_class = getattr(diffusers, str(name), None)
    if scheduler_class is None or not hasattr(scheduler_class, "from_config"):
        raise ValueError(f"model.path: unknown scheduler class {name!r} in {root / folder / 'scheduler_config.json'}")
    if config.get("timestep_type", "discrete") != "discrete":
        raise ValueError(f"model.path: scheduler timestep_type {config['timestep_type']!r}; only 'discrete' is "
                         "supported")
    scheduler = scheduler_class.from_config(config)
    alphas_cumprod = getattr(scheduler, "alphas_cumprod", None)
    if not isinstance(alphas_cumprod, torch.Tensor):
        raise ValueError(f"model.path: {name} is not a discrete-time (DDPM-family) scheduler: it has no "
                         "alphas_cumprod")
    return alphas_cumprod.clone(), str(scheduler.config.get("prediction_type", "epsilon"))


def _load_vae(root: Path, options: dict[str, Any], dtype: torch.dtype) -> nn.Module:
    import diffusers

    config = _read_json(root / "vae" / "config.json", "model.path")
    vae_class = getattr(diffusers, str(config.get("_class_name", "AutoencoderKL")), None)
    if vae_class is None or not hasattr(vae_class, "decode"):
        raise ValueError(f"model.path: unknown VAE class {config.get('_class_name')!r} in {root / 'vae'}")
    if dtype == torch.float16 and config.get("force_upcast", False):
        options = {**options, "torch_dtype": torch.float32}  # this VAE overflows in float16 (its config says so)
    return vae_class.from_pretrained(root, subfolder="vae", **options)


def _load_text_encoder(root: Path, dtype: torch.dtype) -> tuple[nn.Module, Any]:
    import transformers

    if not (root / "tokenizer").is_dir():
        raise FileNotFoundError(f"model.path: '{root}' has text_encoder/ but no tokenizer/")
    config = _read_json(root / "text_encoder" / "config.json", "model.path")
    architecture = (config.get("architectures") or ["CLIPTextModel"])[0]
    encoder_class = getattr(transformers, str(architecture), None)
    if encoder_class is None:
        raise ValueError(f"model.path: unknown text encoder architecture {architecture!r} in {root / 'text_encoder'}")
    encoder = encoder_class.from_pretrained(root / "text_encoder", dtype=dtype, use_safetensors=True,
                                            local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
    return encoder, tokenizer
