"""The metrics that fit a datamodule, selected by name.

Images: FID (or the Frechet distance in the configured feature space), KID and precision/recall
on the same features (one feature pass), FD-DINOv2 (and KID/precision/recall in DINOv2 space),
CLIP score for text-conditional data. 2-D data: the sliced Wasserstein distance, and where the
exact density is known NLL, mode coverage and the in-mode fraction; the Frechet distance, KID and
precision/recall of the points on request. Reference data is prepared once, here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from restart_lightning.evaluation.feature_metrics import FeatureSpace, add_space_metrics, prepare_spaces
from restart_lightning.evaluation.suite import MetricSuite
from restart_lightning.evaluation.uncertainty import block_size
from restart_lightning.metrics import (
    ExactNLL,
    FlattenFeatures,
    HighQualityFraction,
    KLDivergence,
    ModeCoverage,
    ModuleFeatures,
    SlicedWasserstein,
)
from restart_lightning.metrics.weights import cache_root

FEATURE_EXTRACTORS = ("auto", "inception", "identity")
# 2-D data: metrics that see where the modes are and how much mass each holds, led by the sliced
# W2 distance. The Frechet distance sees only the mean and covariance: a ring of 8 modes of radius 2
# and the 5x5 grid with spacing 1 both have mean 0 and covariance 2 I, so it cannot tell them apart.
# "kl", "nll" and the mode metrics are reported where the exact density is known (Gaussian mixtures).
LOW_DIM_DEFAULT = ("sliced_w2", "kl", "nll", "mode_coverage", "in_mode_fraction")
TOY_METRICS = ("sliced_w2", "kl", "nll", "mode_coverage", "in_mode_fraction")
DINOV2_NAMES = {"frechet": "fd_dinov2", "kid": "kid_dinov2", "precision": "precision_dinov2",
                "recall": "recall_dinov2"}
METRIC_NAMES = ("fid", "frechet", "kid", "precision", "recall", *DINOV2_NAMES.values(), "clip_score", *TOY_METRICS)


def is_low_dimensional(data_shape: tuple[int, ...]) -> bool:
    return len(data_shape) == 1


def check_metric_names(names: Sequence[str] | None, field: str = "metrics") -> None:
    """Refuse unknown or repeated names (before anything is built)."""
    if names is None:
        return
    if isinstance(names, str) or not names:
        raise ValueError(f"{field}: expected a non-empty list of metric names, got {names!r}; "
                         f"allowed: {', '.join(METRIC_NAMES)}")
    for name in names:
        if name not in METRIC_NAMES:
            raise ValueError(f"{field}: unknown metric {name!r}; allowed: {', '.join(METRIC_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{field}: metric names must be unique, got {list(names)}")


def default_metric_names(low_dim: bool, kind: str | nn.Module, has_real_data: bool = True) -> list[str]:
    """What is reported when ``metrics`` is not given (the first leads the results table).

    Without real data (only reference statistics, as ``EvaluationDataModule`` gives) the Frechet
    distance is all that can be computed: KID and precision/recall need the real features.
    """
    if low_dim:
        return list(LOW_DIM_DEFAULT)
    frechet = "fid" if kind == "inception" else "frechet"
    return [frechet, "kid", "precision", "recall"] if has_real_data else [frechet]


def build_metric_suite(
    datamodule: Any,
    feature_extractor: str | nn.Module = "auto",
    inception_weights: str | None = None,
    reference_stats: str | Path | None = None,
    num_reference_samples: int = 50_000,
    num_samples: int = 10_000,
    names: Sequence[str] | None = None,
    dinov2_weights: str | None = None,
    clip_model: str | None = None,
    seed_blocks: int = 0,
    device: torch.device | str = "cpu",
) -> MetricSuite:
    """The metrics ``names`` (default: ``default_metric_names``) for the datamodule's data.

    ``num_samples`` (n per evaluation) sets the seed blocks (``seed_blocks`` >= 2 of n // B).
    ``datamodule`` provides ``data_shape`` and real data: ``reference_samples(n)`` (toy data) or
    ``reference_dataloader()`` (images); exact densities (``mixture``) add NLL and modes;
    ``prompts`` make ``clip_score`` possible. Reference features are computed on ``device``.
    """
    shape = tuple(datamodule.data_shape)
    if isinstance(feature_extractor, str) and feature_extractor not in FEATURE_EXTRACTORS:
        raise ValueError(
            f"feature_extractor: unknown value {feature_extractor!r}; allowed: {', '.join(FEATURE_EXTRACTORS)} "
            "or an nn.Module"
        )
    check_metric_names(names)
    if seed_blocks:
        block_size(num_samples, seed_blocks)  # ValueError before anything is built
    low_dim = is_low_dimensional(shape)
    kind = ("identity" if low_dim else "inception") if feature_extractor == "auto" else feature_extractor
    if reference_stats == "auto":  # a datamodule without real data (EvaluationDataModule) names its file
        reference_stats = getattr(datamodule, "reference_stats", None) or "auto"
    requested = list(names) if names is not None else None
    wanted = requested or default_metric_names(low_dim, kind, getattr(datamodule, "has_real_data", True))
    metrics: dict[str, Metric] = {}
    if low_dim:
        reference = datamodule.reference_samples(num_reference_samples)
        metrics["sliced_w2"] = SlicedWasserstein(reference[:10_000].double())
        mixture = getattr(datamodule, "mixture", None)
        if mixture is not None:
            radius = 3 * mixture.std
            metrics["kl"] = KLDivergence(mixture.log_prob)
            metrics["nll"] = ExactNLL(mixture.log_prob)
            # A mode counts as covered once it holds 5% of its fair share of the samples.
            metrics["mode_coverage"] = ModeCoverage(mixture.means.float(), radius, min_share=0.05)
            metrics["in_mode_fraction"] = HighQualityFraction(mixture.means.float(), radius)
        real: Iterable[Tensor] = [reference]
    else:
        real = _real_images(datamodule)
    spaces = _feature_spaces(datamodule, shape, wanted, kind, inception_weights, dinov2_weights,
                             reference_stats, num_reference_samples)
    available = [*metrics, *(n for space in spaces for n in space.names.values()), "clip_score"]
    missing = [n for n in (requested or []) if n not in available]
    if missing:
        raise ValueError(f"metrics: {missing[0]!r} is not available for {type(datamodule).__name__} with "
                         f"feature_extractor {kind if isinstance(kind, str) else type(kind).__name__}; "
                         f"available: {', '.join(n for n in available if n != 'clip_score' or not low_dim)}")
    clip = _clip_score(datamodule, clip_model) if "clip_score" in wanted else None
    prepare_spaces(spaces, real, num_reference_samples, device)

    suite = MetricSuite(num_samples)
    for name, metric in metrics.items():
        if name in wanted:
            suite.add(name, metric)
    for space in spaces:
        add_space_metrics(suite, space)
    if clip is not None:
        suite.add("clip_score", clip, labels=True)
    suite.order([n for n in wanted if n in suite])
    if seed_blocks:
        suite.enable_seed_blocks(seed_blocks)
    return suite


def _feature_spaces(datamodule: Any, shape: tuple[int, ...], wanted: list[str], kind: str | nn.Module,
                    inception_weights: str | None, dinov2_weights: str | None,
                    reference_stats: str | Path | None, num_reference_samples: int) -> list[FeatureSpace]:
    """The feature spaces the wanted metrics need, with their extractors built (missing weights fail here)."""
    spaces = []
    frechet_name = "fid" if kind == "inception" else "frechet"
    main = {"frechet": frechet_name, "kid": "kid", "precision": "precision", "recall": "recall"}
    main = {k: v for k, v in main.items() if v in wanted}
    if main:
        if kind == "inception":
            from restart_lightning.metrics.features import InceptionFeatures

            extractor: nn.Module = InceptionFeatures(inception_weights)
        elif kind == "identity":
            extractor = FlattenFeatures(int(torch.tensor(shape).prod()))
        else:
            extractor = ModuleFeatures(kind)
        stats = _stats_path(datamodule, kind, reference_stats, num_reference_samples, suffix="")
        spaces.append(FeatureSpace(_key(kind), extractor, main, stats, cache_features=kind != "identity"))
    dinov2 = {k: v for k, v in DINOV2_NAMES.items() if v in wanted}
    if dinov2 and not is_low_dimensional(shape):
        from restart_lightning.metrics.dinov2 import DINOv2Features

        stats = _stats_path(datamodule, "dinov2", reference_stats, num_reference_samples, suffix="-dinov2")
        spaces.append(FeatureSpace("dinov2", DINOv2Features(dinov2_weights), dinov2, stats))
    return spaces


def _key(kind: str | nn.Module) -> str:
    return kind if isinstance(kind, str) else "module"


def _stats_path(datamodule: Any, kind: str | nn.Module, reference_stats: str | Path | None,
                num_reference_samples: int, suffix: str) -> Path | None:
    """Where a space's reference mu/sigma live: the cache (``auto``), next to a given file, or nowhere (None)."""
    if reference_stats is None:
        return None
    if reference_stats == "auto":
        return reference_cache_path(datamodule, kind, num_reference_samples)
    path = Path(reference_stats)
    return path.with_name(f"{path.stem}{suffix}{path.suffix}") if suffix else path


def _clip_score(datamodule: Any, clip_model: str | None) -> Metric:
    prompts = getattr(datamodule, "prompts", None)
    if not prompts:
        raise ValueError(f"metrics: clip_score needs a text-conditional datamodule exposing `prompts`; "
                         f"{type(datamodule).__name__} has none")
    if int(getattr(datamodule, "num_classes", 0)) != len(prompts):
        raise ValueError(f"metrics: clip_score needs num_classes == len(prompts) (the label is the prompt index); "
                         f"{type(datamodule).__name__} has num_classes {getattr(datamodule, 'num_classes', 0)} "
                         f"and {len(prompts)} prompts")
    if clip_model is None:
        raise ValueError("clip_model: clip_score needs the path of a local transformers CLIP model directory")
    from restart_lightning.metrics.clip_score import PromptCLIPScore

    return PromptCLIPScore(clip_model, prompts)


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
