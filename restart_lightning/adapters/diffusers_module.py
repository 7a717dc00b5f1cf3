"""``DiffusersModule``: a diffusers model folder, evaluated with this project's samplers and metrics.

Selected in YAML like any model::

    model:
      class_path: restart_lightning.adapters.DiffusersModule
      init_args: {path: models/my-ddpm, torch_dtype: float32}

Pixel models (``UNet2DModel``), class-conditional models, and Stable Diffusion-style latent
text-to-image models (``UNet2DConditionModel`` + VAE + text encoder) are supported; see
``adapters.diffusers_loading`` for what is read and ``adapters.diffusers_denoiser`` for the
conversion to D(x, sigma, labels). The device is the trainer's (``--trainer.accelerator``).
"""

from __future__ import annotations

from typing import Any, Literal

from restart_lightning.adapters.conditioning import ClassConditioning, PromptConditioning, tokenize_prompts
from restart_lightning.adapters.diffusers_denoiser import DiffusersDenoiser, denoiser_from_components
from restart_lightning.adapters.diffusers_loading import load_components
from restart_lightning.adapters.evaluation_module import EvaluationModule


class DiffusersModule(EvaluationModule):
    """A pretrained diffusers model as the denoiser of ``test``, ``predict`` and ``tune`` (no training).

    Args:
        path: a local diffusers folder (a pipeline's ``save_pretrained`` output, or a UNet folder with
            its ``scheduler_config.json``); a Hub repository id with ``download: true``.
        torch_dtype: the dtype the networks run in: float32, float16 or bfloat16 (a VAE whose config
            asks for ``force_upcast`` decodes in float32).
        prediction_type: what the UNet predicts (epsilon, v_prediction, sample); None: the scheduler
            config's.
        null_class_label: a class-conditional model's "no class" index, needed for guidance.
        sigma_data: the data's standard deviation (tuning reads it to place its search; about 0.5 for
            images in [-1, 1], about 1 for Stable Diffusion's scaled latents).
        download: allow fetching ``path`` from the Hugging Face Hub (JSON, text and safetensors files only).
        variant: a weights variant such as ``fp16`` (``diffusion_pytorch_model.fp16.safetensors``).
        revision: the Hub revision for ``download``.
        predict_sampler, predict_guidance_scale: see ``EvaluationModule``.
    """

    def __init__(
        self,
        path: str,
        torch_dtype: Literal["float32", "float16", "bfloat16"] = "float32",
        prediction_type: Literal["epsilon", "v_prediction", "sample"] | None = None,
        null_class_label: int | None = None,
        sigma_data: float = 0.5,
        download: bool = False,
        variant: str | None = None,
        revision: str | None = None,
        predict_sampler: str | dict[str, Any] = "heun",
        predict_guidance_scale: float = 1.0,
    ) -> None:
        super().__init__(predict_sampler, predict_guidance_scale)
        if not sigma_data > 0:
            raise ValueError(f"model.sigma_data must be > 0, got {sigma_data}")
        self.save_hyperparameters()
        components = load_components(path, torch_dtype, download=download, variant=variant, revision=revision)
        self.tokenizer = components.tokenizer
        self.adapted: DiffusersDenoiser = denoiser_from_components(
            components, prediction_type=prediction_type, null_class_label=null_class_label, sigma_data=sigma_data)

    @property
    def denoiser(self) -> DiffusersDenoiser:
        return self.adapted

    @property
    def conditioning(self) -> Any:
        return self.adapted.net.conditioning

    def check_data(self, datamodule: Any) -> None:
        """ValueError (naming the data field) if the data's shape or conditioning does not fit the model.

        Run by the command line before anything is built or written, and again by ``setup``.
        """
        num_labels = int(getattr(datamodule, "num_classes", 0) or 0)
        prompts = getattr(datamodule, "prompts", None)
        conditioning = self.conditioning
        if isinstance(conditioning, PromptConditioning):
            if not prompts:
                raise ValueError("data.prompts: this model is text-conditional; give the data a prompts file "
                                 "(one prompt per line)")
        elif prompts:
            raise ValueError("data.prompts: this model has no text encoder; remove the prompts file")
        elif isinstance(conditioning, ClassConditioning):
            if not 1 <= num_labels <= conditioning.num_classes:
                raise ValueError(f"data.num_classes: this model is class-conditional with {conditioning.num_classes} "
                                 f"class embeddings; give 1..{conditioning.num_classes} classes, got {num_labels}")
        elif num_labels:
            raise ValueError(f"data.num_classes: this model is unconditional; set 0, got {num_labels}")
        shape = tuple(int(s) for s in datamodule.data_shape)
        if self.adapted.latent_space is not None:
            self.adapted.latent_space.shape(shape)  # a shape the VAE cannot decode fails here
        elif shape[0] != int(self.adapted.net.unet.config.in_channels):
            raise ValueError(f"data.data_shape: {list(shape)} does not fit the model, which takes images of "
                             f"{self.adapted.net.unet.config.in_channels} channels")

    def setup(self, stage: str) -> None:
        """Check the data against the model; give the text encoder the data's prompts."""
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        if datamodule is None:
            return
        self.check_data(datamodule)
        if isinstance(self.conditioning, PromptConditioning):
            self.conditioning.set_prompts(*tokenize_prompts(self.tokenizer, datamodule.prompts))
