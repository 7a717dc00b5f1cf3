"""Feature extractors: samples [B, ...] -> features [B, d], each exposing ``num_features = d``.

``FlattenFeatures`` (data space), ``ModuleFeatures`` (a user network) and ``InceptionFeatures``
(torch-fidelity's Inception-v3, the FID network). torchmetrics' ``FrechetInceptionDistance``
reads ``num_features`` to size its states; the evaluation's metric suite runs each extractor
once per batch and hands the features to every metric that works in its space.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from restart_lightning.metrics.weights import resolve_inception_weights
from restart_lightning.pixels import to_uint8

INCEPTION_FEATURES = 2048


def rgb_uint8(x: Tensor, network: str = "Inception") -> Tensor:
    """Images [B, 1 or 3, H, W] in [-1, 1] (or uint8) -> uint8 RGB, the input of the image networks.

    Float images are quantised with ``to_uint8`` (the one conversion also used for saved
    pictures); 1-channel images are repeated to RGB; uint8 input passes unchanged.
    """
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{network} features need images [B, 1 or 3, H, W], got shape {tuple(x.shape)}.")
    pixels = x if x.dtype == torch.uint8 else to_uint8(x)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


class FlattenFeatures(nn.Module):
    """Identity features: f(x) = x.flatten(1), i.e. the Frechet distance in data space (toy data)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        self.num_features = int(num_features)

    def forward(self, x: Tensor) -> Tensor:
        features = x.flatten(1)
        if features.shape[1] != self.num_features:
            raise ValueError(
                f"Identity features have dimension {features.shape[1]} (samples of shape {tuple(x.shape)}), "
                f"but the metric was built with num_features={self.num_features}."
            )
        return features


class ModuleFeatures(nn.Module):
    """A user network as a feature extractor: f(x) = module(x).flatten(1), always in eval mode, no grads.

    Args:
        module: maps samples [B, ...] to features [B, d].
        num_features: d; taken from ``module.num_features`` when omitted.
    """

    def __init__(self, module: nn.Module, num_features: int | None = None) -> None:
        super().__init__()
        if num_features is None:
            num_features = getattr(module, "num_features", None)
        if num_features is None:
            raise ValueError(
                f"Cannot tell the feature dimension of {type(module).__name__}: pass num_features "
                "or give the module an integer `num_features` attribute."
            )
        self.module = module.requires_grad_(False).eval()
        self.num_features = int(num_features)

    def train(self, mode: bool = True) -> ModuleFeatures:
        """Stay in evaluation mode whatever a parent module asks."""
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.module(x).flatten(1)


class InceptionFeatures(nn.Module):
    """torch-fidelity's Inception-v3 (the FID network; torchmetrics' ``NoTrainInceptionV3``) on images in [-1, 1].

    Args:
        weights_path: the ``pt_inception-2015-12-05-6726825d.pth`` file (default in the cache
            directory); must exist, nothing is downloaded (FileNotFoundError saying how to get it).
        num_features: the layer: 2048 (pool3, the FID standard), 768, 192 or 64.
        antialias: torch's antialiased bilinear resize instead of torch-fidelity's TF1-compatible one.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None, num_features: int = INCEPTION_FEATURES,
                 antialias: bool = False) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        if num_features not in (64, 192, 768, 2048):
            raise ValueError(f"Inception num_features must be one of 64, 192, 768, 2048, got {num_features}")
        weights = resolve_inception_weights(weights_path)  # FileNotFoundError before anything is built
        self.network = NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(num_features)],
                                          feature_extractor_weights_path=str(weights), antialias=antialias)
        self.num_features = int(num_features)
        self.eval()

    def train(self, mode: bool = True) -> InceptionFeatures:
        """Stay in evaluation mode whatever a parent module asks."""
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.network(rgb_uint8(x)).reshape(x.shape[0], -1)
