"""Real-data features [m, d], shared by every metric that compares samples with them point by point.

KID and precision/recall need the real features themselves, not only their mean and covariance.
One ``RealFeatures`` object holds them for all such metrics of a feature space (and for every
seed-block copy of those metrics), and computes what depends on the real data alone -- the
kernel mean over real pairs, the real k-NN radii -- once, on first use, per device.

Files: ``.npz`` with one float32 array ``features`` [m, d], read with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat


class RealFeatures:
    """Real features [m, d] (kept in float32 on the CPU) and the quantities derived from them.

    ``on(device)`` gives the features on a device (moved once); ``derived(key, fn)`` returns
    ``fn(features_on_device)`` computed once per key and device.
    """

    def __init__(self, features: Tensor | np.ndarray) -> None:
        features = torch.as_tensor(features).detach().to("cpu", torch.float32)
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"Real features must be [m >= 2, d], got shape {tuple(features.shape)}.")
        self.features = features.contiguous()
        self._on: dict[torch.device, Tensor] = {}
        self._derived: dict[tuple[Hashable, torch.device], object] = {}

    @property
    def num_samples(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def on(self, device: torch.device | str) -> Tensor:
        device = torch.device(device)
        if device not in self._on:
            self._on[device] = self.features.to(device)
        return self._on[device]

    def derived(self, key: Hashable, device: torch.device | str, fn: Callable[[Tensor], object]) -> object:
        device = torch.device(device)
        if (key, device) not in self._derived:
            self._derived[(key, device)] = fn(self.on(device))
        return self._derived[(key, device)]


def stacked_features(state: list[Tensor] | Tensor, dim: int) -> Tensor:
    """A metric's generated-feature ``cat`` state as one [n, dim] tensor (a list before sync, a tensor after)."""
    if isinstance(state, list) and not state:
        return torch.zeros(0, dim)
    return dim_zero_cat(state).reshape(-1, dim)


def save_real_features(path: str | os.PathLike, features: Tensor) -> Path:
    """Write ``features`` (float32 [m, d]) to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = features.detach().to("cpu", torch.float32).numpy()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, features=array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_real_features(path: str | os.PathLike, expected_dim: int | None = None) -> RealFeatures:
    """Read a features ``.npz``; ValueError naming the file if it is malformed or of another dimension."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Real features file '{path}' does not exist.")
    with np.load(path, allow_pickle=False) as data:
        if "features" not in data.files:
            raise ValueError(f"Real features file '{path}' lacks the key 'features'; it has {data.files}.")
        features = data["features"]
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"Real features file '{path}' holds an array of shape {features.shape}; expected [m >= 2, d].")
    if expected_dim is not None and features.shape[1] != expected_dim:
        raise ValueError(
            f"Real features file '{path}' has feature dimension {features.shape[1]}, but the feature extractor "
            f"produces {expected_dim}-dimensional features. Delete the file to recompute it."
        )
    return RealFeatures(features)
