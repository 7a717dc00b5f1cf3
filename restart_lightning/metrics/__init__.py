"""Sample-quality metrics as torchmetrics objects: FID / Frechet distance, KID, precision/recall, toy metrics.

FD-DINOv2 (``metrics.dinov2``) and CLIP score (``metrics.clip_score``) need the optional
transformers dependency and are imported from their modules.
"""

from restart_lightning.metrics.features import FlattenFeatures, InceptionFeatures, ModuleFeatures
from restart_lightning.metrics.fid import FrechetDistance
from restart_lightning.metrics.frechet import frechet_distance, gaussian_moments
from restart_lightning.metrics.kernel import KernelDistance, unbiased_mmd2
from restart_lightning.metrics.kl import KLDivergence, knn_entropy
from restart_lightning.metrics.precision_recall import PrecisionRecall, fraction_inside, knn_radii
from restart_lightning.metrics.real_features import RealFeatures, load_real_features, save_real_features
from restart_lightning.metrics.toy import (
    ExactNLL,
    HighQualityFraction,
    ModeCoverage,
    SlicedWasserstein,
    random_projections,
    wasserstein_1d,
)
from restart_lightning.metrics.weights import (
    DINOV2_WEIGHTS_FILENAME,
    DINOV2_WEIGHTS_URL,
    INCEPTION_WEIGHTS_FILENAME,
    INCEPTION_WEIGHTS_URL,
    MissingWeightsError,
    default_dinov2_weights_path,
    default_inception_weights_path,
    download_dinov2_weights,
    download_inception_weights,
    find_dinov2_weights,
    find_inception_weights,
    find_weights,
    resolve_dinov2_weights,
    resolve_inception_weights,
)
from restart_lightning.pixels import from_uint8, to_uint8
from restart_lightning.reference_stats import ReferenceStats, load_reference_stats, save_reference_stats

__all__ = [
    "DINOV2_WEIGHTS_FILENAME",
    "DINOV2_WEIGHTS_URL",
    "INCEPTION_WEIGHTS_FILENAME",
    "INCEPTION_WEIGHTS_URL",
    "ExactNLL",
    "FlattenFeatures",
    "FrechetDistance",
    "HighQualityFraction",
    "InceptionFeatures",
    "KernelDistance",
    "KLDivergence",
    "ModeCoverage",
    "ModuleFeatures",
    "PrecisionRecall",
    "RealFeatures",
    "ReferenceStats",
    "SlicedWasserstein",
    "default_dinov2_weights_path",
    "default_inception_weights_path",
    "download_dinov2_weights",
    "download_inception_weights",
    "fraction_inside",
    "MissingWeightsError",
    "find_dinov2_weights",
    "find_inception_weights",
    "find_weights",
    "frechet_distance",
    "from_uint8",
    "gaussian_moments",
    "knn_radii",
    "knn_entropy",
    "load_real_features",
    "load_reference_stats",
    "random_projections",
    "resolve_dinov2_weights",
    "resolve_inception_weights",
    "save_real_features",
    "save_reference_stats",
    "to_uint8",
    "unbiased_mmd2",
    "wasserstein_1d",
]
