"""Model (c) of quality_vs_nfe.py: the digits U-Net of ``configs/digits.yaml``.

It runs when both exist:
  1. the experiment config ``configs/digits.yaml`` (``--digits-config``), and
  2. a checkpoint of it (``--digits-ckpt``, default benchmarks/.cache/digits.ckpt), e.g.
     ``python main.py fit --config configs/digits.yaml`` then copy ``logs/.../checkpoints/last.ckpt``.
Otherwise ``digits_model`` returns None and the reason, which the script prints.

Quality is the Frechet distance of the samples' features to the real images' statistics
(``restart_lightning.metrics.FrechetDistance`` through ``build_metric_suite``, with the feature
extractor and reference statistics that the config's SamplerEvaluation callback names; if the
Inception weights file is missing, identity features on the pixels, and the description says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from _common import instantiate, load_ema_denoiser
from _quality import BenchModel
from torch import Tensor

from restart_lightning.evaluation.labels import draw_labels
from restart_lightning.evaluation.metric_suite import build_metric_suite
from restart_lightning.tuning.spaces import ModelContext


def _evaluation_args(config: dict[str, Any]) -> dict[str, Any]:
    """init_args of the config's restart_lightning.callbacks.SamplerEvaluation (empty if it has none)."""
    for callback in (config.get("trainer") or {}).get("callbacks") or []:
        if isinstance(callback, dict) and callback.get("class_path", "").endswith("SamplerEvaluation"):
            return dict(callback.get("init_args") or {})
    return {}


def digits_band(denoiser: torch.nn.Module, datamodule: Any, sigma_data: float) -> tuple[float, float]:
    """Error band of the U-Net's diagnostic (issue 11a) on 512 of its images (the config holds none out)."""
    from restart_lightning.losses import build_loss
    from restart_lightning.tuning.error_profile import default_sigma_grid, measure_error_profile

    images, labels = datamodule._images[:512], datamodule._labels[:512]
    profile = measure_error_profile(denoiser, build_loss("edm", sigma_data=sigma_data).weight, images,
                                    sigmas=default_sigma_grid(0.002, 80.0, num=24), labels=labels, batch_size=512)
    return tuple(profile.error_band())


def digits_model(config_path: Path, ckpt_path: Path | None, num_samples: int) -> tuple[BenchModel | None, str]:
    """(model, "") if config and checkpoint exist, else (None, why it was skipped)."""
    if not config_path.is_file():
        return None, f"skipped: no digits config at {config_path}"
    if ckpt_path is None or not ckpt_path.is_file():
        return None, (f"skipped: no digits checkpoint at {ckpt_path}; train one with `python main.py fit --config "
                      f"{config_path}` and pass --digits-ckpt PATH (or copy last.ckpt to that path)")
    config = yaml.safe_load(config_path.read_text())
    datamodule = instantiate(config["data"])
    datamodule.setup("fit")
    args = _evaluation_args(config)
    num_reference = int(args.get("num_reference_samples", 50_000))
    feature = args.get("feature_extractor", "auto")
    note = ""
    try:
        metrics = build_metric_suite(datamodule, feature, args.get("inception_weights"),
                                     args.get("reference_stats", "auto"), num_reference, num_samples)
    except FileNotFoundError as error:  # no Inception weights on this machine
        note = f" (Inception weights missing: {error}; identity features on the pixels instead)"
        metrics = build_metric_suite(datamodule, "identity", None, "auto", num_reference, num_samples)
    key = "fid" if "fid" in metrics else "frechet"
    metrics.order([key])  # the suite computes features once and feeds its Frechet distance
    num_classes = int(getattr(datamodule, "num_classes", 0))

    def score(samples: Tensor) -> dict[str, float]:
        return {"frechet": metrics.score(samples.to(torch.float32).clamp(-1, 1))[key]}

    denoiser = load_ema_denoiser(ckpt_path)
    band = digits_band(denoiser, datamodule, float(config["model"].get("sigma_data", 0.5)))
    model = BenchModel(
        name="digits",
        description=(f"digits model {ckpt_path.name} ({config_path.name}); Frechet distance, "
                     f"{'Inception' if key == 'fid' else 'identity'} features{note}; error band of its diagnostic "
                     f"sigma {band[0]:.3g}..{band[1]:.3g}"),
        denoiser=denoiser,
        shape=tuple(datamodule.data_shape),
        score=score,
        metrics=("frechet",),
        objective="frechet",
        labels=lambda seeds: draw_labels(seeds, num_classes, None, "cpu"),
        context=ModelContext(sigma_min=0.002, sigma_max=80.0, sigma_data=float(config["model"].get("sigma_data", 0.5)),
                             band=band),
    )
    return model, ""
