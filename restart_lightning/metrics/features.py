"""Feature extractors for the Frechet distance other than Inception-v3.

Each maps samples [B, ...] to features [B, d] and exposes ``num_features = d``, which
torchmetrics' ``FrechetInceptionDistance`` reads to size its states.
"""

from __future__ import annotations

from torch import Tensor, nn


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
