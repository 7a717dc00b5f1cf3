"""What ``build_metric_suite`` will need, checked before the run writes anything.

The feature extractor, its weights file (present, and loadable with ``weights_only=True``) and
the reference statistics (valid and of the features' dimension, or a writable place to compute
them into), for the same feature spaces ``metric_suite`` builds. Errors name the setting through
``owner`` (e.g. ``SamplerEvaluation``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import nn

from restart_lightning.evaluation.metric_suite import (
    DINOV2_NAMES,
    FEATURE_EXTRACTORS,
    default_metric_names,
    is_low_dimensional,
    reference_cache_path,
)
from restart_lightning.metrics.fid import INCEPTION_FEATURES
from restart_lightning.metrics.weights import default_dinov2_weights_path, default_inception_weights_path
from restart_lightning.reference_stats import load_reference_stats
from restart_lightning.reliability.errors import ConfigError
from restart_lightning.reliability.output_checks import check_writable
from restart_lightning.reliability.safe_load import load_torch_file


def check_metric_inputs(
    owner: str,
    datamodule: Any,
    shape: tuple[int, ...],
    *,
    feature_extractor: str | nn.Module = "auto",
    metric_names: list[str] | None = None,
    inception_weights: str | None = None,
    dinov2_weights: str | None = None,
    reference_stats: str | None = "auto",
    num_reference_samples: int = 2,
) -> None:
    """The feature spaces the metrics need (as ``metric_suite`` builds them): weights, statistics."""
    extractor = feature_extractor
    if isinstance(extractor, str) and extractor not in FEATURE_EXTRACTORS:
        raise ConfigError(f"{owner}.feature_extractor: invalid value {extractor!r}; allowed values: "
                          f"{', '.join(FEATURE_EXTRACTORS)} or an nn.Module")
    low_dim = is_low_dimensional(shape)
    kind = ("identity" if low_dim else "inception") if extractor == "auto" else extractor
    wanted = metric_names or default_metric_names(low_dim, kind, getattr(datamodule, "has_real_data", True))
    frechet = "fid" if kind == "inception" else "frechet"
    given_weights = {"inception_weights": inception_weights, "dinov2_weights": dinov2_weights}
    for field, given in given_weights.items():  # a file the user names must exist, used or not
        if given is not None:
            _check_weights(f"{owner}.{field}", given, Path(given), " --dinov2" if field == "dinov2_weights" else "")
    spaces = []  # (feature key for the cache, statistics suffix, feature dimension)
    named_stats = reference_stats not in (None, "auto")
    # statistics the user names are checked even when no metric reads them (a typo must not pass silently)
    uses_features = any(n in wanted for n in (frechet, "kid", "precision", "recall"))
    if named_stats or uses_features:
        if kind == "inception" and uses_features:
            _check_weights(f"{owner}.inception_weights", inception_weights, default_inception_weights_path(), "")
        dim = (math.prod(shape) if kind == "identity" else INCEPTION_FEATURES if kind == "inception"
               else getattr(kind, "num_features", None))
        spaces.append((kind, "", dim))
    if not low_dim and any(n in wanted for n in DINOV2_NAMES.values()):
        _check_weights(f"{owner}.dinov2_weights", dinov2_weights, default_dinov2_weights_path(), " --dinov2")
        spaces.append(("dinov2", "-dinov2", None))  # the dimension is the checkpoint's (checked when built)
    stats = reference_stats
    if stats == "auto":  # a datamodule without real data names its file (as metric_suite does)
        stats = getattr(datamodule, "reference_stats", None) or "auto"
    if stats is not None:
        for key, suffix, dim in spaces:
            _check_statistics(f"{owner}.reference_stats", stats, datamodule, key, suffix, dim, num_reference_samples)


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
