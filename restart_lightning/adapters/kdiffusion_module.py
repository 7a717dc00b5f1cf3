"""``KDiffusionModule``: any denoiser in k-diffusion's convention, built from YAML, evaluated (no training).

::

    model:
      class_path: restart_lightning.adapters.KDiffusionModule
      init_args:
        model: {class_path: my_package.MyDenoiser, init_args: {...}}
        weights: models/my_denoiser.safetensors
        condition_key: class_labels   # labels passed as model(x, sigma, class_labels=labels)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from restart_lightning.adapters.conditioning import ClassConditioning
from restart_lightning.adapters.evaluation_module import EvaluationModule
from restart_lightning.adapters.kdiffusion import KDiffusionDenoiser


def load_weights(module: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load a state dict from ``.safetensors`` or a torch file read with ``weights_only=True`` (no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.weights: no file at '{path}'")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a pickle of objects, a truncated or a foreign file
            raise ValueError(f"model.weights: '{path}' is not a weights file readable without running code "
                             f"({type(error).__name__}: {str(error).splitlines()[0][:200]})") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]  # a Lightning checkpoint
    if not isinstance(state, dict):
        raise ValueError(f"model.weights: '{path}' holds a {type(state).__name__}, not a state dict")
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a tensor of another shape
        raise ValueError(f"model.weights: '{path}' does not fit the model ({' '.join(str(error).split())[:300]})"
                         ) from None
    if strict and (missing or unexpected):
        raise ValueError(f"model.weights: '{path}' does not fit the model: {len(missing)} missing tensor(s) "
                         f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}")


class KDiffusionModule(EvaluationModule):
    """A k-diffusion-style denoiser ``model(x, sigma, **cond)`` as the denoiser of ``test``/``predict``/``tune``.

    Args:
        model: the denoiser (``class_path``/``init_args``), an ``nn.Module`` in k-diffusion's convention.
        weights: its weights, ``.safetensors`` or a torch file (read with ``weights_only=True``); None: as built.
        sigma_min, sigma_max: the valid sigma range (None: the model's own attributes, else 0 and inf).
        sigma_data: the data's standard deviation (None: the model's attribute, else 0.5).
        condition_key: the keyword the model takes labels under (None: unconditional).
        num_classes: the classes the model knows (with ``condition_key``).
        null_class_label: the "no class" label for classifier-free guidance.
        predict_sampler, predict_guidance_scale: see ``EvaluationModule``.
    """

    def __init__(
        self,
        model: nn.Module,
        weights: str | None = None,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        sigma_data: float | None = None,
        condition_key: str | None = None,
        num_classes: int = 0,
        null_class_label: int | None = None,
        predict_sampler: str | dict[str, Any] = "heun",
        predict_guidance_scale: float = 1.0,
    ) -> None:
        super().__init__(predict_sampler, predict_guidance_scale)
        if condition_key is not None and num_classes < 1:
            raise ValueError(f"model.num_classes must be >= 1 with a condition_key, got {num_classes}")
        with warnings.catch_warnings():  # under LightningCLI `model` is saved as its config
            warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`.*")
            self.save_hyperparameters()
        if isinstance(self.hparams.get("model"), nn.Module):
            del self.hparams["model"]  # built in Python: keep the module out of the hyperparameters
        if weights is not None:
            load_weights(model, weights)
        model.eval().requires_grad_(False)
        conditioning = (ClassConditioning(num_classes, condition_key, null_class_label)
                        if condition_key is not None else None)
        self.adapted = KDiffusionDenoiser(model, sigma_min, sigma_max, conditioning, sigma_data)

    @property
    def denoiser(self) -> KDiffusionDenoiser:
        return self.adapted
