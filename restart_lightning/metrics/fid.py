"""Frechet distance of generated samples to fixed reference statistics (FID with Inception-v3).

Built on torchmetrics' ``FrechetInceptionDistance``: the generated ("fake") feature sums are
its states and sync over DDP by summation; the distance is torchmetrics' ``_compute_fid``.

Reference statistics (mu, sigma of the real data's features) are injected into the metric's
real-feature states once -- loaded from an ``.npz`` or computed from a real-data iterable and
then cached to that file -- and kept by ``reset()`` (``reset_real_features=False``). Every rank
holds the same reference, so these states sync by taking rank 0's copy instead of summing.

Inputs to ``update`` are samples in the model range: images [B, C, H, W] in [-1, 1] or points
[B, d]. For Inception, images are quantised with ``to_uint8`` (the one conversion also used for
saved pictures; torchmetrics' ``normalize=True`` path is not used) and 1-channel images are
repeated to RGB; uint8 input is passed through unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.utilities import rank_zero_warn

from restart_lightning.metrics.features import INCEPTION_FEATURES, FlattenFeatures, ModuleFeatures, rgb_uint8
from restart_lightning.metrics.frechet import frechet_distance, gaussian_moments, sums_from_moments
from restart_lightning.metrics.weights import resolve_inception_weights
from restart_lightning.pixels import from_uint8
from restart_lightning.reference_stats import load_reference_stats, save_reference_stats

_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def _identical_across_ranks(stacked: Tensor) -> Tensor:
    """DDP reduction for states that every rank holds identically: keep rank 0's copy."""
    return stacked[0]


class FrechetDistance(FrechetInceptionDistance):
    """Frechet distance ||mu_g - mu_r||^2 + tr(S_g + S_r - 2 (S_g S_r)^{1/2}) of generated features
    N(mu_g, S_g) to reference features N(mu_r, S_r) (Heusel et al. 2017; FID when feature="inception").

    Args:
        feature: ``"inception"`` (torch-fidelity Inception-v3, 2048-d pool features),
            ``"identity"`` (the flattened samples; needs ``num_features``), or an ``nn.Module``
            mapping samples to [B, d] features.
        reference_stats_path: ``.npz`` with float64 ``mu`` and ``sigma`` (EDM's format). Loaded now
            if it exists; otherwise ``prepare_reference(real_data)`` computes and writes it.
        feature_extractor_weights_path: Inception weights file (default
            ``default_inception_weights_path()``); must exist, nothing is downloaded.
        num_features: feature dimension for ``"identity"`` or a module without ``num_features``.
        inception_features: which Inception layer: 2048 (pool3, the FID standard), 768, 192 or 64.
        antialias: resize for Inception with torch's antialiased bilinear instead of torch-fidelity's
            TF1-compatible resize (False, the convention behind published FIDs).

    ``compute()`` returns the squared Frechet distance as a float64 scalar tensor.
    ``reference_stats_computed`` / ``reference_stats_loaded`` count how often this instance
    computed the reference from real data / read it from the file.
    """

    def __init__(
        self,
        feature: str | nn.Module = "inception",
        reference_stats_path: str | None = None,
        feature_extractor_weights_path: str | None = None,
        num_features: int | None = None,
        inception_features: int = INCEPTION_FEATURES,
        antialias: bool = False,
    ) -> None:
        if isinstance(feature, nn.Module):
            kind = "module"
            super().__init__(feature=ModuleFeatures(feature, num_features), reset_real_features=False)
        elif feature == "inception":
            kind = "inception"
            weights = resolve_inception_weights(feature_extractor_weights_path)  # FileNotFoundError here
            super().__init__(
                feature=inception_features,
                reset_real_features=False,
                normalize=False,
                feature_extractor_weights_path=str(weights),
                antialias=antialias,
            )
        elif feature == "identity":
            if num_features is None:
                raise ValueError('feature="identity" needs num_features (the flattened sample dimension).')
            kind = "identity"
            super().__init__(feature=FlattenFeatures(num_features), reset_real_features=False)
        else:
            raise ValueError(f'feature must be "inception", "identity" or an nn.Module, got {feature!r}.')

        self.feature_kind = kind
        for name in _REAL_STATES:  # re-register: same default, but no summation over ranks
            self.add_state(name, getattr(self, name), dist_reduce_fx=_identical_across_ranks)
        self.reference_stats_path = Path(reference_stats_path) if reference_stats_path is not None else None
        self.reference_stats_computed = 0
        self.reference_stats_loaded = 0
        if self.reference_stats_path is not None and self.reference_stats_path.is_file():
            self.load_reference()

    @property
    def num_features(self) -> int:
        return int(self.real_features_sum.shape[0])

    @property
    def has_reference(self) -> bool:
        return bool(self.real_features_num_samples >= 2)

    # ----------------------------------------------------------------- reference statistics
    def prepare_reference(self, real_data: Iterable[Any] | None = None, max_samples: int | None = None) -> None:
        """Make sure reference statistics are present: keep them, else load the file, else compute.

        Call on every rank (with the same data) before the first ``compute``; repeated calls are free.
        """
        if self.has_reference:
            return
        if self.reference_stats_path is not None and self.reference_stats_path.is_file():
            self.load_reference()
        elif real_data is not None:
            self.compute_reference(real_data, max_samples=max_samples)
        else:
            raise FileNotFoundError(
                f"No reference statistics: '{self.reference_stats_path}' does not exist and no real data was given "
                "to compute them from."
            )

    def load_reference(self, path: str | os.PathLike | None = None) -> None:
        """Read mu/sigma from ``path`` (default ``reference_stats_path``); ValueError on a dimension mismatch."""
        path = Path(path) if path is not None else self.reference_stats_path
        if path is None:
            raise ValueError("No reference statistics path given.")
        stats = load_reference_stats(path, expected_dim=self.num_features)
        self.set_reference(torch.from_numpy(stats.mu), torch.from_numpy(stats.sigma), stats.num_samples)
        self.reference_stats_loaded += 1

    def set_reference(self, mu: Tensor, sigma: Tensor, num_samples: int | None = None) -> None:
        """Inject N(mu, sigma) into the real-feature states (n only scales the sums; 2 if unknown)."""
        if mu.shape != (self.num_features,) or sigma.shape != (self.num_features, self.num_features):
            raise ValueError(
                f"Reference mu {tuple(mu.shape)} / sigma {tuple(sigma.shape)} do not match the "
                f"{self.num_features}-dimensional features."
            )
        n = max(int(num_samples or 2), 2)
        device = self.real_features_sum.device
        feature_sum, cov_sum = sums_from_moments(mu.to(device), sigma.to(device), n)
        self.real_features_sum = feature_sum
        self.real_features_cov_sum = cov_sum
        self.real_features_num_samples = torch.tensor(n, dtype=torch.long, device=device)

    def reference_moments(self) -> tuple[Tensor, Tensor]:
        """(mu, sigma) of the reference, float64."""
        return gaussian_moments(self.real_features_sum, self.real_features_cov_sum, self.real_features_num_samples)

    @torch.no_grad()
    def compute_reference(self, real_data: Iterable[Any], max_samples: int | None = None) -> None:
        """Accumulate reference features over ``real_data`` and write them to ``reference_stats_path``.

        ``real_data`` yields tensors (or tuples/lists whose first item is one): float in [-1, 1]
        or uint8 pixels, [B, C, H, W] or [B, d].
        """
        for name in _REAL_STATES:
            setattr(self, name, torch.zeros_like(getattr(self, name)))
        for batch in real_data:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            if max_samples is not None:
                x = x[: max_samples - int(self.real_features_num_samples)]
            if x.shape[0] == 0:
                break
            FrechetInceptionDistance.update(self, self._feature_input(x.to(self.device)), real=True)
        n = int(self.real_features_num_samples)
        if n < 2:
            raise ValueError(f"Reference statistics need at least 2 real samples, got {n}.")
        if n < self.num_features:
            rank_zero_warn(
                f"Reference statistics from {n} samples for {self.num_features}-dimensional features: "
                "the covariance is rank deficient."
            )
        self.reference_stats_computed += 1
        if self.reference_stats_path is not None:
            mu, sigma = self.reference_moments()
            save_reference_stats(self.reference_stats_path, mu, sigma, num_samples=n)

    # ----------------------------------------------------------------- generated samples
    def update(self, samples: Tensor) -> None:  # type: ignore[override]
        """Add generated samples (model range) to the generated-feature statistics."""
        super().update(self._feature_input(samples), real=False)

    def compute(self) -> Tensor:
        """Squared Frechet distance of the (synced) generated features to the reference, float64."""
        if not self.has_reference:
            raise RuntimeError(
                "FrechetDistance has no reference statistics; call prepare_reference(...) before compute()."
            )
        n = int(self.fake_features_num_samples)
        if n < 2:
            raise RuntimeError(f"The Frechet distance needs at least 2 generated samples, got {n}.")
        if n < self.num_features:
            rank_zero_warn(
                f"Frechet distance from {n} generated samples for {self.num_features}-dimensional features: "
                "the covariance is rank deficient and the value is biased; use at least as many samples as features."
            )
        mu_g, sigma_g = gaussian_moments(
            self.fake_features_sum, self.fake_features_cov_sum, self.fake_features_num_samples
        )
        mu_r, sigma_r = self.reference_moments()
        return frechet_distance(mu_g, sigma_g, mu_r, sigma_r)

    def _feature_input(self, x: Tensor) -> Tensor:
        """Samples -> what the feature extractor expects (uint8 RGB for Inception, float otherwise)."""
        if self.feature_kind != "inception":
            return from_uint8(x) if x.dtype == torch.uint8 else x
        return rgb_uint8(x)
