"""Reference statistics of the real data: a mean ``mu`` [d] and covariance ``sigma`` [d, d].

Stored as ``.npz`` with float64 arrays under the keys ``mu`` and ``sigma``, the format of
EDM's published FID reference files (so those files load directly). Files written here also
carry ``num_samples`` (how many real samples produced them); readers ignore it if absent.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class ReferenceStats:
    """Gaussian moments of real-data features, in float64."""

    mu: np.ndarray
    sigma: np.ndarray
    num_samples: int | None = None

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


def save_reference_stats(
    path: str | os.PathLike, mu: Tensor | np.ndarray, sigma: Tensor | np.ndarray, num_samples: int | None = None
) -> Path:
    """Write ``mu``/``sigma`` (float64) to ``path`` atomically (temporary file, then rename).

    Atomic so that several processes writing the same statistics never leave a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"mu": _as_float64(mu), "sigma": _as_float64(sigma)}
    if num_samples is not None:
        arrays["num_samples"] = np.asarray(int(num_samples), dtype=np.int64)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_reference_stats(path: str | os.PathLike, expected_dim: int | None = None) -> ReferenceStats:
    """Read a reference ``.npz`` and check its shapes (and its dimension, if ``expected_dim`` is given).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: missing keys, inconsistent shapes, or a feature dimension other than ``expected_dim``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Reference statistics file '{path}' does not exist.")
    with np.load(path) as data:
        missing = {"mu", "sigma"} - set(data.files)
        if missing:
            raise ValueError(f"Reference statistics file '{path}' lacks key(s) {sorted(missing)}; it has {data.files}.")
        mu = data["mu"].astype(np.float64)
        sigma = data["sigma"].astype(np.float64)
        num_samples = int(data["num_samples"]) if "num_samples" in data.files else None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"Reference statistics file '{path}' has mu of shape {mu.shape} and sigma of shape {sigma.shape}; "
            "expected mu [d] and sigma [d, d]."
        )
    if expected_dim is not None and mu.shape[0] != expected_dim:
        raise ValueError(
            f"Reference statistics file '{path}' has feature dimension {mu.shape[0]}, but the feature extractor "
            f"produces {expected_dim}-dimensional features. Delete the file to recompute it, or point "
            "reference_stats_path at statistics made with the same feature extractor."
        )
    return ReferenceStats(mu=mu, sigma=sigma, num_samples=num_samples)


def _as_float64(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)
