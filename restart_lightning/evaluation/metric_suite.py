"""The metrics that fit a datamodule: FID for images; NLL, modes and distances for 2-D data."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection

from restart_lightning.metrics import ExactNLL, FrechetDistance, HighQualityFraction, ModeCoverage, SlicedWasserstein

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


def reference_points(datamodule: Any, n: int = 10_000) -> Tensor | None:
    """Real points for density pictures (low-dimensional data only)."""
    if is_low_dimensional(tuple(datamodule.data_shape)):
        return datamodule.reference_samples(n)
    return None


def _real_images(datamodule: Any) -> Iterable[Tensor]:
    """Real images in [-1, 1], without labels."""
    for batch in datamodule.reference_dataloader():
        yield batch[0] if isinstance(batch, (tuple, list)) else batch
