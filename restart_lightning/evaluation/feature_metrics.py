"""Metrics in a feature space -- Frechet distance, KID, precision/recall -- and their real-data side.

A feature space is an extractor (Inception, DINOv2, identity, a user network) and the names its
metrics are reported under (``fid`` / ``kid`` / ``precision`` / ``recall`` for Inception,
``fd_dinov2`` / ``kid_dinov2`` / ... for DINOv2). The real data passes through every extractor that
needs it in one loop, at most ``num_reference_samples`` images, and is cached next to the
reference statistics: ``<stats>.npz`` holds mu and sigma (EDM's format; the Frechet distance needs
nothing else, so a published EDM file is enough for it), ``<stats>-features.npz`` the real features
that KID and precision/recall compare with sample by sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from restart_lightning.evaluation.suite import MetricSuite
from restart_lightning.metrics import FrechetDistance
from restart_lightning.metrics.kernel import KernelDistance
from restart_lightning.metrics.precision_recall import PrecisionRecall
from restart_lightning.metrics.real_features import RealFeatures, load_real_features, save_real_features

# The metric kinds of a feature space, as named in the Inception space.
KINDS = ("frechet", "kid", "precision", "recall")


@dataclass
class FeatureSpace:
    """An extractor and the reported name of each metric kind computed on its features.

    ``stats_path``: the reference mu/sigma ``.npz`` (None: in memory); ``cache_features``: keep the
    real features in ``<stats>-features.npz`` (off for identity features, which cost nothing).
    """

    key: str
    extractor: nn.Module
    names: dict[str, str]  # kind -> reported name, for the kinds that were asked for
    stats_path: Path | None = None
    cache_features: bool = True
    frechet: FrechetDistance | None = field(default=None, init=False)
    real: RealFeatures | None = field(default=None, init=False)

    @property
    def features_path(self) -> Path | None:
        if self.stats_path is None or not self.cache_features:
            return None
        return self.stats_path.with_name(f"{self.stats_path.stem}-features.npz")

    @property
    def dim(self) -> int:
        return int(self.extractor.num_features)

    def needs_real_features(self) -> bool:
        pointwise = any(kind in self.names for kind in ("kid", "precision", "recall"))
        return self.real is None and (pointwise or (self.frechet is not None and not self.frechet.has_reference))


def prepare_spaces(spaces: list[FeatureSpace], real_data: Iterable[Tensor], num_reference_samples: int,
                   device: torch.device | str = "cpu") -> None:
    """Reference of every space: loaded from its files where present, else one pass over ``real_data``."""
    for space in spaces:
        if "frechet" in space.names:
            space.frechet = FrechetDistance("identity", num_features=space.dim, reference_stats_path=space.stats_path)
        path = space.features_path
        if space.needs_real_features() and path is not None and path.is_file():
            space.real = load_real_features(path, expected_dim=space.dim)
    pending = [space for space in spaces if space.needs_real_features()]
    if pending:
        computed = real_features(pending, real_data, num_reference_samples, device)
        for space, features in zip(pending, computed, strict=True):
            space.real = RealFeatures(features)
            if space.features_path is not None:
                save_real_features(space.features_path, features)
    for space in spaces:
        if space.frechet is not None and not space.frechet.has_reference:
            space.frechet.prepare_reference(space.real.features.split(4096))  # writes stats_path when set


@torch.no_grad()
def real_features(spaces: list[FeatureSpace], real_data: Iterable[Tensor], max_samples: int,
                  device: torch.device | str) -> list[Tensor]:
    """Features of the first ``max_samples`` real samples in every space, from one pass over the data (CPU float32)."""
    chunks: list[list[Tensor]] = [[] for _ in spaces]
    seen = 0
    extractors = [space.extractor.to(device) for space in spaces]
    for batch in real_data:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = x[: max_samples - seen].to(device)
        if x.shape[0] == 0:
            break
        for chunk, extractor in zip(chunks, extractors, strict=True):
            chunk.append(extractor(x).flatten(1).to("cpu", torch.float32))
        seen += x.shape[0]
    if seen < 2:
        raise ValueError(f"Reference features need at least 2 real samples, got {seen}.")
    return [torch.cat(chunk) for chunk in chunks]


def add_space_metrics(suite: MetricSuite, space: FeatureSpace, precision_recall_k: int = 3) -> None:
    """The space's extractor and its metrics into ``suite`` (after ``prepare_spaces``)."""
    suite.add_extractor(space.key, space.extractor)
    names = space.names
    if "frechet" in names:
        suite.add(names["frechet"], space.frechet, source=space.key)
    if "kid" in names:
        suite.add(names["kid"], KernelDistance(space.real), source=space.key)
    outputs = {kind: names[kind] for kind in ("precision", "recall") if kind in names}
    if outputs:
        suite.add(outputs, PrecisionRecall(space.real, k=precision_recall_k), source=space.key)
