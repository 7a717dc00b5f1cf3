"""What the evaluation and prediction will need, checked once the model and data exist, before any write.

For every evaluation callback (``SamplerEvaluation`` and look-alikes) and for ``predict``:
- the feature extractor, the Inception weights file (present, and loadable with
  ``weights_only=True``), the reference statistics (valid, of the features' dimension; or a
  writable place to compute them into);
- guidance and fixed class labels against the data's classes and the network's conditioning;
- every sampler's plan on this denoiser's sigma range (a restart interval outside it fails now,
  not after the first training epoch);
- the memory the kept samples, the sampler's batch and the pictures take.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import nn

from restart_lightning.memory import check_memory
from restart_lightning.reliability.errors import ConfigError, one_line
from restart_lightning.reliability.output_checks import check_writable
from restart_lightning.reliability.safe_load import load_torch_file

SAMPLER_STATE_COPIES = 8  # float64 buffers a sampler holds per sample (x, denoised, derivatives, noise)


def network_classes(model: Any) -> int | None:
    """The number of classes the network is conditioned on (0: unconditional; None: it does not say)."""
    net = getattr(getattr(model, "model", None), "net", None)
    value = getattr(net, "num_classes", None)
    return int(value) if isinstance(value, int) else None


def check_evaluations(trainer, model, datamodule, subcommand: str, device_limit: int | None = None) -> None:
    """Every check of the module docstring, for the callbacks of ``trainer`` and the ``predict`` sampler.

    ``device_limit``: the accelerator's memory, for the sampler batches (None: the CPU's).
    """
    if datamodule is None or not hasattr(datamodule, "data_shape"):
        return
    shape = tuple(int(s) for s in datamodule.data_shape)
    for callback in trainer.callbacks:
        if hasattr(callback, "samplers") and hasattr(callback, "num_samples"):
            _check_callback(callback, model, datamodule, shape, subcommand, device_limit)
    if subcommand == "predict":
        _check_prediction(model, datamodule, shape, device_limit)


def _check_callback(callback, model, datamodule, shape: tuple[int, ...], subcommand: str,
                    device_limit: int | None) -> None:
    name = type(callback).__name__
    num_classes = int(getattr(datamodule, "num_classes", 0) or 0)
    guidance = float(getattr(callback, "guidance_scale", 1.0))
    if guidance != 1.0:
        if num_classes == 0:
            raise ConfigError(f"{name}.guidance_scale: {guidance} needs class-conditional data, but "
                              f"{type(datamodule).__name__} has no labels; allowed: 1.0 for this data")
        if network_classes(model) == 0:
            raise ConfigError(f"{name}.guidance_scale: {guidance} needs a network that takes class labels, but "
                              "model.net has num_classes 0; allowed: 1.0 for this network")
    fixed = getattr(callback, "class_labels", None)
    if fixed is not None and not 0 <= fixed < num_classes:
        allowed = f"an integer in [0, {num_classes - 1}] or null" if num_classes else "null (the data has no labels)"
        raise ConfigError(f"{name}.class_labels: invalid value {fixed!r}; allowed: {allowed}")
    denoiser = getattr(model, "denoiser", None)  # DiffusionModule's (EMA or live: one sigma range) or an adapter's
    if guidance != 1.0 and denoiser is not None:
        from restart_lightning.guidance import GuidedDenoiser

        denoiser = GuidedDenoiser(denoiser, guidance)
    for named in callback.samplers if denoiser is not None else []:
        _check_plan(f"{name}.samplers.{named.label}", named.sampler, denoiser)
    _check_features(callback, datamodule, shape, name)
    keeps_all = subcommand == "test" or bool(getattr(callback, "save_samples", False))
    _check_memory(callback, shape, name, keeps_all, device_limit)


def _check_plan(field: str, sampler, denoiser) -> None:
    try:
        sampler.plan(denoiser)
    except ValueError as error:
        raise ConfigError(f"{field}: {one_line(error)} (on this model's sigma range)") from None


def _check_features(callback, datamodule, shape: tuple[int, ...], name: str) -> None:
    """The feature spaces the callback's metrics need (as ``metric_suite`` builds them): weights, statistics."""
    from restart_lightning.evaluation.metric_suite import (
        DINOV2_NAMES,
        FEATURE_EXTRACTORS,
        default_metric_names,
        is_low_dimensional,
    )
    from restart_lightning.metrics.fid import INCEPTION_FEATURES
    from restart_lightning.metrics.weights import default_dinov2_weights_path, default_inception_weights_path

    extractor = getattr(callback, "feature_extractor", "auto")
    if isinstance(extractor, str) and extractor not in FEATURE_EXTRACTORS:
        raise ConfigError(f"{name}.feature_extractor: invalid value {extractor!r}; allowed values: "
                          f"{', '.join(FEATURE_EXTRACTORS)} or an nn.Module")
    low_dim = is_low_dimensional(shape)
    kind = ("identity" if low_dim else "inception") if extractor == "auto" else extractor
    wanted = getattr(callback, "metric_names", None) or default_metric_names(
        low_dim, kind, getattr(datamodule, "has_real_data", True))
    frechet = "fid" if kind == "inception" else "frechet"
    for field in ("inception_weights", "dinov2_weights"):  # a file the user names must exist, used or not
        given = getattr(callback, field, None)
        if given is not None:
            _check_weights(f"{name}.{field}", given, Path(given), " --dinov2" if field == "dinov2_weights" else "")
    spaces = []  # (feature key for the cache, statistics suffix, feature dimension)
    named_stats = getattr(callback, "reference_stats", None) not in (None, "auto")
    # statistics the user names are checked even when no metric reads them (a typo must not pass silently)
    uses_features = any(n in wanted for n in (frechet, "kid", "precision", "recall"))
    if named_stats or uses_features:
        if kind == "inception" and uses_features:
            _check_weights(f"{name}.inception_weights", getattr(callback, "inception_weights", None),
                           default_inception_weights_path(), "")
        dim = (math.prod(shape) if kind == "identity" else INCEPTION_FEATURES if kind == "inception"
               else getattr(kind, "num_features", None))
        spaces.append((kind, "", dim))
    if not low_dim and any(n in wanted for n in DINOV2_NAMES.values()):
        _check_weights(f"{name}.dinov2_weights", getattr(callback, "dinov2_weights", None),
                       default_dinov2_weights_path(), " --dinov2")
        spaces.append(("dinov2", "-dinov2", None))  # the dimension is the checkpoint's (checked when built)
    stats = getattr(callback, "reference_stats", None)
    if stats == "auto":  # a datamodule without real data names its file (as metric_suite does)
        stats = getattr(datamodule, "reference_stats", None) or "auto"
    if stats is not None:
        for key, suffix, dim in spaces:
            _check_statistics(f"{name}.reference_stats", stats, datamodule, key, suffix, dim,
                              int(getattr(callback, "num_reference_samples", 2)))


def _check_weights(field: str, given: str | None, default: Path, flag: str) -> None:
    """A feature extractor's weights file exists and loads with ``weights_only=True`` (it cannot run code)."""
    path = Path(given).expanduser() if given is not None else default
    if not path.is_file():
        raise ConfigError(
            f"{field}: no weights file at '{path}' (nothing is downloaded at run time); fetch it with "
            f"`python -m restart_lightning.metrics.weights{flag} '{path}'`, or point {field} at a copy"
        )
    load_torch_file(path, field, mmap=True, what="weights")


def _check_statistics(field: str, stats: str | Path, datamodule, key, suffix: str, dim: int | None,
                      num_reference: int) -> None:
    """Reference statistics that exist are valid and of the features' dimension; else they can be written."""
    from restart_lightning.evaluation.metric_suite import reference_cache_path
    from restart_lightning.metrics.reference import load_reference_stats

    if stats == "auto":
        path = reference_cache_path(datamodule, key, num_reference)
        field += " (auto: under $RESTART_LIGHTNING_CACHE)"
    else:
        path = Path(stats)
        path = path.with_name(f"{path.stem}{suffix}{path.suffix}") if suffix else path
    if path.exists():
        load_reference_stats(path, expected_dim=dim if isinstance(dim, int) else None, field=field)
    elif getattr(datamodule, "has_real_data", True):
        check_writable(field, path.parent)
    else:
        raise ConfigError(f"{field}: no reference statistics at '{path}', and {type(datamodule).__name__} has no "
                          "real data to compute them from; give an .npz of their mu and sigma")


def _check_batch(field: str, batch: int, size: int, device_limit: int | None) -> None:
    check_memory(field, batch, size * 8 * SAMPLER_STATE_COPIES,
                 f"the sampler's float64 state, about {SAMPLER_STATE_COPIES} copies of each sample",
                 limit=device_limit, where="the accelerator's" if device_limit else "this machine's")


def _check_memory(callback, shape: tuple[int, ...], name: str, keeps_all: bool, device_limit: int | None) -> None:
    size = math.prod(shape)
    low_dimensional = len(shape) == 1
    _check_batch(f"{name}.batch_size", callback.batch_size, size, device_limit)
    kept = 4 * size if low_dimensional else 0  # 2-D samples are all kept for the density picture
    if keeps_all:  # the sample files: collected, then merged by rank 0 (uint8 images, float32 points)
        kept += 2 * (4 * size if low_dimensional else size)
    if kept:
        check_memory(f"{name}.num_samples", callback.num_samples, kept, "the samples kept for pictures and files")
    if low_dimensional:
        check_memory(f"{name}.num_reference_samples", callback.num_reference_samples, 16 * size,
                     "the real points held at once, float64 and float32")
    else:
        check_memory(f"{name}.num_pictures", callback.num_pictures, 12 * size, "the picture grid, float32")


def _check_prediction(model, datamodule, shape: tuple[int, ...], device_limit: int | None) -> None:
    size = math.prod(shape)
    count = getattr(datamodule, "num_predict_samples", None)
    if isinstance(count, int):
        # Lightning keeps every prediction (float32), the writer its copy and rank 0 the merged file
        check_memory("data.num_predict_samples", count, 4 * size + 2 * (4 * size if len(shape) == 1 else size),
                     "the predicted samples, kept until they are written")
    batch = getattr(datamodule, "batch_size", None)
    if isinstance(batch, int):
        _check_batch("data.batch_size", batch, size, device_limit)
    sampler = getattr(model, "predict_sampler", None)
    if sampler is not None and getattr(model, "denoiser", None) is not None:
        _check_plan("model.predict_sampler", sampler, model.denoiser)
