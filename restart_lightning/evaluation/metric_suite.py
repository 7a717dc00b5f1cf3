"""The metrics that fit a datamodule: FID for images; NLL, modes and distances for 2-D data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection

from restart_lightning.metrics import ExactNLL, FrechetDistance, HighQualityFraction, ModeCoverage, SlicedWasserstein
from restart_lightning.metrics.weights import cache_root

FEATURE_EXTRACTORS = ("auto", "inception", "identity")


def is_low_dimensional(data_shape: tuple[int, ...]) -> bool:
    return len(data_shape) == 1


def build_metric_suite(
    datamodule: Any,
    feature_extractor: str | nn.Module = "auto",
    inception_weights: str | None = None,
    reference_stats: str | Path | None = None,
    num_reference_samples: int = 50_000,
    num_samples: int = 10_000,
) -> MetricCollection:
    """Metrics for the datamodule's data; reference statistics are prepared once, here.

    ``num_samples`` (n per evaluation) sets how many samples make a mode count as covered.
    ``datamodule`` provides ``data_shape`` and real data: ``reference_samples(n)`` (toy data)
    or ``reference_dataloader()`` (images). Exact densities (``mixture``) add NLL and modes.
    """
    shape = tuple(datamodule.data_shape)
    if isinstance(feature_extractor, str) and feature_extractor not in FEATURE_EXTRACTORS:
        raise ValueError(
            f"feature_extractor: unknown value {feature_extractor!r}; allowed: {', '.join(FEATURE_EXTRACTORS)} "
            "or an nn.Module"
        )
    low_dim = is_low_dimensional(shape)
    kind = ("identity" if low_dim else "inception") if feature_extractor == "auto" else feature_extractor
    if reference_stats == "auto":  # a datamodule without real data (EvaluationDataModule) names its file
        reference_stats = getattr(datamodule, "reference_stats", None) or reference_cache_path(
            datamodule, kind, num_reference_samples)
    frechet = FrechetDistance(
        feature=kind,
        reference_stats_path=reference_stats,
        feature_extractor_weights_path=inception_weights,
        num_features=int(torch.tensor(shape).prod()) if kind == "identity" else None,
    )
    metrics: dict[str, Metric] = {"fid" if kind == "inception" else "frechet": frechet}
    if low_dim:
        reference = datamodule.reference_samples(num_reference_samples)
        frechet.prepare_reference([reference])
        metrics["sliced_w2"] = SlicedWasserstein(reference[:10_000].double())
        mixture = getattr(datamodule, "mixture", None)
        if mixture is not None:
            radius, num_modes = 3 * mixture.std, mixture.means.shape[0]
            metrics["nll"] = ExactNLL(mixture.log_prob)
            # A mode counts as covered once it holds 5% of its fair share of the samples.
            min_samples = max(1, num_samples // (20 * num_modes))
            metrics["mode_coverage"] = ModeCoverage(mixture.means.float(), radius, min_samples=min_samples)
            metrics["in_mode_fraction"] = HighQualityFraction(mixture.means.float(), radius)
    else:
        frechet.prepare_reference(_real_images(datamodule), max_samples=num_reference_samples)
    return MetricCollection(metrics, compute_groups=False)


def reference_cache_path(datamodule: Any, feature: str | nn.Module, num_reference_samples: int) -> Path:
    """Where the reference statistics of this data and feature extractor are cached across runs.

    The name holds a digest of the datamodule's class and hyperparameters (root, resolution,
    distribution, ...), the feature extractor and the number of real samples, so a change in
    any of them computes new statistics instead of reusing stale ones.
    """
    feature_name = feature if isinstance(feature, str) else type(feature).__qualname__
    hparams = dict(getattr(datamodule, "hparams", {}))
    for key in ("batch_size", "num_workers", "steps_per_epoch", "num_predict_samples"):  # do not change the data
        hparams.pop(key, None)
    identity = json.dumps([type(datamodule).__qualname__, hparams, feature_name, num_reference_samples],
                          sort_keys=True, default=str)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return cache_root() / "reference" / f"{type(datamodule).__name__}-{feature_name}-{digest}.npz"


def reference_points(datamodule: Any, n: int = 10_000) -> Tensor | None:
    """Real points for density pictures (low-dimensional data only)."""
    if is_low_dimensional(tuple(datamodule.data_shape)):
        return datamodule.reference_samples(n)
    return None


def _real_images(datamodule: Any) -> Iterable[Tensor]:
    """Real images in [-1, 1], without labels."""
    for batch in datamodule.reference_dataloader():
        yield batch[0] if isinstance(batch, (tuple, list)) else batch
