"""The LightningModule of a model trained elsewhere: a denoiser to evaluate, never to train.

It gives ``test``, ``predict`` (and ``tune``) what ``DiffusionModule`` gives them: a ``denoiser``
property (what ``SamplerEvaluation`` samples), a ``predict_step`` drawing the samples of the seeds
in a batch, and the data's shape through the datamodule. ``fit`` is refused by the command line
before anything is built (``refuse_training``).
"""

from __future__ import annotations

import importlib
from typing import Any

import lightning.pytorch as pl
from torch import Tensor

from restart_lightning.evaluation.generation import generate_batches
from restart_lightning.sampling.registry import parse_sampler_specs


class EvaluationModule(pl.LightningModule):
    """Base class of the adapters' LightningModules; subclasses provide ``denoiser``.

    Args:
        predict_sampler: the sampler ``main.py predict`` uses: a registry name, a preset YAML file or
            ``{name: ..., <options>}`` (``--sampler`` on the command line overrides it).
        predict_guidance_scale: classifier-free guidance weight for ``predict`` (1: none); ``test``
            and ``tune`` take theirs from ``SamplerEvaluation.guidance_scale``.
    """

    evaluation_only = True

    def __init__(self, predict_sampler: str | dict[str, Any] = "heun", predict_guidance_scale: float = 1.0) -> None:
        super().__init__()
        if predict_guidance_scale < 0:
            raise ValueError(f"model.predict_guidance_scale must be >= 0, got {predict_guidance_scale}")
        self.predict_sampler = parse_sampler_specs({"predict": predict_sampler}, "model.predict_sampler")[0].sampler
        self.predict_guidance_scale = float(predict_guidance_scale)

    @property
    def denoiser(self) -> Any:
        """D(x, sigma, labels=None) with ``sigma_min``, ``sigma_max`` (and ``latent_space`` for latent models)."""
        raise NotImplementedError

    def forward(self, x: Tensor, sigma: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.denoiser(x, sigma, labels)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        raise RuntimeError(f"{type(self).__name__} evaluates a pretrained model; it cannot be trained")

    def configure_optimizers(self) -> None:
        return None

    def validation_step(self, batch, batch_idx: int) -> None:
        """Nothing per batch: the SamplerEvaluation callback samples and scores at the epoch's end."""

    def test_step(self, batch, batch_idx: int) -> None:
        """Nothing per batch: the SamplerEvaluation callback samples and scores at the epoch's end."""

    def predict_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        """Samples (decoded, for latent models) for the seeds in ``batch``, with ``predict_sampler``;
        labels (classes or prompt indices) are drawn per seed as in the evaluation."""
        datamodule = self.trainer.datamodule
        denoiser = self.denoiser
        if self.predict_guidance_scale != 1.0:
            from restart_lightning.guidance import GuidedDenoiser

            denoiser = GuidedDenoiser(denoiser, self.predict_guidance_scale)
        seeds = batch.tolist()
        [generated] = generate_batches(self.predict_sampler, denoiser, seeds, shape=tuple(datamodule.data_shape),
                                       batch_size=len(seeds), device=self.device,
                                       num_classes=int(getattr(datamodule, "num_classes", 0)), label="predict")
        return generated.samples


def refuse_training(subcommand: str | None, model_config: Any) -> None:
    """ValueError if ``fit`` is asked of an evaluation-only model (checked before anything is built)."""
    if subcommand != "fit" or model_config is None:
        return
    class_path = model_config.get("class_path") if hasattr(model_config, "get") else None
    if not isinstance(class_path, str) or "." not in class_path:
        return
    module_name, _, name = class_path.rpartition(".")
    try:
        model_class = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return  # the parser has reported (or will report) a bad class_path
    if isinstance(model_class, type) and getattr(model_class, "evaluation_only", False):
        raise ValueError(f"model: {class_path} evaluates a model trained elsewhere and cannot be trained by fit; "
                         "use test or predict (or tune)")

