"""Sample-quality metrics as torchmetrics objects: FID / Frechet distance and toy-data metrics."""

from restart_lightning.metrics.features import FlattenFeatures, ModuleFeatures
from restart_lightning.metrics.fid import FrechetDistance
from restart_lightning.metrics.frechet import frechet_distance, gaussian_moments
from restart_lightning.metrics.images import from_uint8, to_uint8
from restart_lightning.metrics.reference import ReferenceStats, load_reference_stats, save_reference_stats
from restart_lightning.metrics.toy import (
    ExactNLL,
    HighQualityFraction,
    ModeCoverage,
    SlicedWasserstein,
    random_projections,
    wasserstein_1d,
)
from restart_lightning.metrics.weights import (
    INCEPTION_WEIGHTS_FILENAME,
    INCEPTION_WEIGHTS_URL,
    default_inception_weights_path,
    download_inception_weights,
    resolve_inception_weights,
)

__all__ = [
    "INCEPTION_WEIGHTS_FILENAME",
    "INCEPTION_WEIGHTS_URL",
    "ExactNLL",
    "FlattenFeatures",
    "FrechetDistance",
    "HighQualityFraction",
    "ModeCoverage",
    "ModuleFeatures",
    "ReferenceStats",
    "SlicedWasserstein",
    "default_inception_weights_path",
    "download_inception_weights",
    "frechet_distance",
    "from_uint8",
    "gaussian_moments",
    "load_reference_stats",
    "random_projections",
    "resolve_inception_weights",
    "save_reference_stats",
    "to_uint8",
    "wasserstein_1d",
]
