"""Adapters: models trained elsewhere as the one seam, the denoiser ``D(x, sigma, labels=None)``.

- ``DiffusersModule`` / ``DiffusersDenoiser``: diffusers UNets (pixel, class-conditional, and
  Stable Diffusion-style latent text-to-image models) with the schedule they were trained on;
- ``KDiffusionModule`` / ``KDiffusionDenoiser``: any model in k-diffusion's convention;
- ``DiscreteVPPreconditioning``: the discrete-time (DDPM) conversion both kinds of model rest on;
- ``ClassConditioning``, ``PromptConditioning``, ``LatentSpace``: labels, prompts, and VAE decoding.

diffusers and transformers (``pip install -e ".[diffusers]"``) are imported only when a diffusers
model is loaded.
"""

from restart_lightning.adapters.conditioning import ClassConditioning, PromptConditioning
from restart_lightning.adapters.diffusers_denoiser import DiffusersDenoiser
from restart_lightning.adapters.diffusers_module import DiffusersModule
from restart_lightning.adapters.discrete import PREDICTION_TYPES, DiscreteVPPreconditioning
from restart_lightning.adapters.evaluation_module import EvaluationModule
from restart_lightning.adapters.kdiffusion import KDiffusionDenoiser
from restart_lightning.adapters.kdiffusion_module import KDiffusionModule
from restart_lightning.adapters.latent import LatentSpace

__all__ = [
    "PREDICTION_TYPES", "ClassConditioning", "DiffusersDenoiser", "DiffusersModule", "DiscreteVPPreconditioning",
    "EvaluationModule", "KDiffusionDenoiser", "KDiffusionModule", "LatentSpace", "PromptConditioning",
]
