"""Reference statistics of the real data: a mean ``mu`` [d] and covariance ``sigma`` [d, d].

Stored as ``.npz`` with float64 arrays under the keys ``mu`` and ``sigma``, the format of
EDM's published FID reference files (so those files load directly). Files written here also
carry ``num_samples`` (how many real samples produced them); readers ignore it if absent.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
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


def load_reference_stats(
    path: str | os.PathLike, expected_dim: int | None = None, field: str = "reference_stats"
) -> ReferenceStats:
    """Read a reference ``.npz`` and validate it before any metric uses it.

    Checks: the file is an ``.npz`` without pickled objects (``allow_pickle=False``), ``mu`` [d] and
    ``sigma`` [d, d] are finite, ``sigma`` is symmetric and positive semi-definite (both within a
    relative tolerance of ``STATS_RTOL``, for float rounding), ``num_samples`` (if present) is >= 2,
    and d equals ``expected_dim`` if given. ``field`` names the setting in the messages.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: anything else above, naming ``field``, the file and the problem.
    """
    path = Path(path)
    where = f"{field}: '{path}'"
    if not path.is_file():
        raise FileNotFoundError(f"{where} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"mu", "sigma"} - set(data.files)
            if missing:
                raise ValueError(f"{where} lacks key(s) {sorted(missing)}; it has {data.files}.")
            mu = data["mu"].astype(np.float64)
            sigma = data["sigma"].astype(np.float64)
            num_samples = data["num_samples"] if "num_samples" in data.files else None
    except ValueError as error:
        if str(error).startswith(where):
            raise
        raise ValueError(f"{where} is not a reference statistics .npz of numbers ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{where} is not a readable .npz file ({type(error).__name__}: {error})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"{where} has mu of shape {mu.shape} and sigma of shape {sigma.shape}; expected mu [d] and sigma [d, d]."
        )
    if expected_dim is not None and mu.shape[0] != expected_dim:
        raise ValueError(
            f"{where} has feature dimension {mu.shape[0]}, but the feature extractor produces "
            f"{expected_dim}-dimensional features. Delete the file to recompute it, or point {field} at statistics "
            "made with the same feature extractor."
        )
    _check_moments(mu, sigma, where)
    if num_samples is not None:
        if num_samples.shape != () or not np.issubdtype(num_samples.dtype, np.integer) or int(num_samples) < 2:
            raise ValueError(f"{where} has num_samples = {num_samples!r}; allowed: an integer >= 2")
        num_samples = int(num_samples)
    return ReferenceStats(mu=mu, sigma=sigma, num_samples=num_samples)


STATS_RTOL = 1e-6  # relative to the covariance's largest entry: float64 rounding is far below it


def _check_moments(mu: np.ndarray, sigma: np.ndarray, where: str) -> None:
    """Finite, symmetric and positive semi-definite (a Cholesky factor of sigma + tol I exists)."""
    for name, array in (("mu", mu), ("sigma", sigma)):
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(f"{where} has {int(bad.sum())} non-finite value(s) in {name}; allowed: finite numbers")
    scale = max(float(np.abs(sigma).max(initial=0.0)), 1e-300)
    asymmetry = float(np.abs(sigma - sigma.T).max(initial=0.0))
    if asymmetry > STATS_RTOL * scale:
        raise ValueError(f"{where}: sigma is not symmetric (max |sigma - sigma^T| = {asymmetry:.3g}); "
                         "allowed: a covariance matrix")
    try:
        np.linalg.cholesky(sigma + STATS_RTOL * scale * np.eye(sigma.shape[0]))
    except np.linalg.LinAlgError:
        lowest = float(np.linalg.eigvalsh(sigma).min())
        raise ValueError(f"{where}: sigma is not positive semi-definite (smallest eigenvalue {lowest:.3g}); "
                         "allowed: a covariance matrix") from None


def _as_float64(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)
