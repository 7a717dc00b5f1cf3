"""Where a denoiser's error lives: the training-weighted denoising loss on a log-sigma grid.

At every sigma of the grid the held-out points y get the same fixed noise n (drawn from ``seed``
per batch, independent of sigma), so two profiles over the same data, grid and seed differ only
by their denoisers, and the exact denoiser's loss (toy mixtures) is paired with the learned one's:
their difference, the excess (approximation) error, has a much smaller standard error than either.
The weight is the training loss's own ``weight(sigma)`` (``restart_lightning.losses``), so the
profile's values are those the training loss averages over its sigma distribution.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

LossWeight = Callable[[Tensor], Tensor]
Denoiser = Callable[..., Tensor]


@dataclass(frozen=True)
class ErrorProfile:
    """The training-weighted denoising loss per sigma, E[w(s) |D(y + s n, s) - y|^2] / dim.

    ``stderr`` is the loss's standard error over the held-out points and noise draws; where the
    exact denoiser is known, ``exact_loss`` is its loss on the same points and noise and
    ``excess_stderr`` the standard error of the paired difference loss - exact_loss.
    """

    sigmas: list[float]
    loss: list[float]
    stderr: list[float]
    exact_loss: list[float] | None
    num_samples: int
    excess_stderr: list[float] | None = None

    def excess(self) -> list[float]:
        """loss - exact_loss per sigma: the approximation error (the loss itself where no exact one is known)."""
        if self.exact_loss is None:
            return list(self.loss)
        return [a - b for a, b in zip(self.loss, self.exact_loss)]

    def shares(self) -> list[float]:
        """Each grid point's share of the excess mass over log-sigma (negative excess counts as none)."""
        mass = _masses(self.sigmas, self.excess())
        total = sum(mass)
        return [m / total if total > 0 else 0.0 for m in mass]

    def error_band(self, share: float = 0.8) -> tuple[float, float]:
        """The smallest log-sigma interval [sigma_lo, sigma_hi] of grid points holding ``share`` of the
        excess mass (see ``shares``); the whole grid where there is no excess (an exact denoiser)."""
        if not 0 < share <= 1:
            raise ValueError(f"share: invalid value {share!r}; allowed: a number in (0, 1]")
        mass = _masses(self.sigmas, self.excess())
        total = sum(mass)
        if total <= 0:
            return self.sigmas[0], self.sigmas[-1]
        best, lo, held = (0, len(mass) - 1), 0, 0.0
        for hi, m in enumerate(mass):  # two pointers: the shortest window [lo, hi] holding the share
            held += m
            while lo < hi and held - mass[lo] >= share * total * (1 - 1e-12):
                held -= mass[lo]
                lo += 1
            if held >= share * total * (1 - 1e-12) and _width(self.sigmas, lo, hi) < _width(self.sigmas, *best):
                best = (lo, hi)
        return self.sigmas[best[0]], self.sigmas[best[1]]

    def to_dict(self) -> dict:
        return asdict(self)


def _width(sigmas: Sequence[float], lo: int, hi: int) -> float:
    return math.log(sigmas[hi]) - math.log(sigmas[lo])


def _masses(sigmas: Sequence[float], values: Sequence[float]) -> list[float]:
    """max(value, 0) times the grid point's cell width in log-sigma (half-way to each neighbour)."""
    logs = [math.log(s) for s in sigmas]
    if len(logs) == 1:
        return [max(values[0], 0.0)]
    widths = []
    for i in range(len(logs)):
        left = logs[i] - logs[i - 1] if i > 0 else logs[1] - logs[0]
        right = logs[i + 1] - logs[i] if i + 1 < len(logs) else logs[-1] - logs[-2]
        widths.append((left + right) / 2)
    return [max(v, 0.0) * w for v, w in zip(values, widths)]


def default_sigma_grid(sigma_min: float, sigma_max: float, num: int = 48) -> list[float]:
    """``num`` log-spaced sigmas from ``sigma_min`` to ``sigma_max`` (both included), ascending."""
    if not (math.isfinite(sigma_min) and math.isfinite(sigma_max) and 0 < sigma_min < sigma_max):
        raise ValueError(f"sigma_min, sigma_max: invalid values {sigma_min!r}, {sigma_max!r}; "
                         "allowed: finite numbers with 0 < sigma_min < sigma_max")
    if num < 2:
        raise ValueError(f"num: invalid value {num!r}; allowed: an integer >= 2")
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return [math.exp(lo + (hi - lo) * i / (num - 1)) for i in range(num)]


def _noise_generator(seed: int, batch: int, repeat: int) -> torch.Generator:
    return torch.Generator().manual_seed(hash((seed, batch, repeat)) & 0x7FFF_FFFF_FFFF_FFFF)


def _model_dtype(denoiser: Denoiser) -> torch.dtype:
    from restart_lightning.sampling.execute import resolve_model_dtype

    return resolve_model_dtype(denoiser)


@torch.no_grad()
def measure_error_profile(
    denoiser: Denoiser,
    loss_weight: LossWeight,
    data: Tensor,
    *,
    sigmas: Sequence[float],
    noise_per_point: int = 1,
    seed: int = 0,
    exact: Denoiser | None = None,
    labels: Tensor | None = None,
    batch_size: int = 4096,
    device: torch.device | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ErrorProfile:
    """The ``ErrorProfile`` of ``denoiser`` (D(x, sigma, labels)) on the held-out points ``data`` [N, ...].

    Args:
        loss_weight: the training loss's weight(sigma) (e.g. ``module.loss_fn.weight``).
        sigmas: the grid, ascending (``default_sigma_grid``).
        noise_per_point: noise draws per point and sigma (the sample count is N times this).
        seed: seeds the noise; batch b, draw r uses a generator seeded by (seed, b, r).
        exact: the exact denoiser, evaluated on the same points and noise (``GaussianMixture.denoiser()``).
        labels: [N] class labels passed to both denoisers, or None.
        batch_size: points per denoiser call.
        device: where the denoiser runs (default: the data's device).
        progress: called as ``progress(done, total)`` after every batch (sigma-major order).
    """
    sigmas = [float(s) for s in sigmas]
    if len(sigmas) < 1 or any(not (s > 0 and math.isfinite(s)) for s in sigmas) or sigmas != sorted(sigmas):
        raise ValueError(f"sigmas: invalid value {sigmas!r}; allowed: ascending finite numbers > 0")
    if noise_per_point < 1 or batch_size < 1:
        raise ValueError(f"noise_per_point, batch_size: invalid values {noise_per_point!r}, {batch_size!r}; "
                         "allowed: integers >= 1")
    if data.shape[0] < 2:
        raise ValueError(f"data: {data.shape[0]} held-out points; allowed: at least 2 (for a standard error)")
    device = torch.device(device) if device is not None else data.device
    dtype = _model_dtype(denoiser)
    batches = [(start, min(start + batch_size, data.shape[0])) for start in range(0, data.shape[0], batch_size)]
    total, done = len(sigmas) * len(batches) * noise_per_point, 0
    loss, stderr, exact_loss, excess_stderr = [], [], [], []
    for sigma in sigmas:
        weight = float(loss_weight(torch.tensor([sigma], dtype=torch.float64)).reshape(-1)[0])
        learned_err, exact_err = [], []
        for b, (start, stop) in enumerate(batches):
            y = data[start:stop].to(device=device, dtype=torch.float64)
            batch_labels = labels[start:stop].to(device) if labels is not None else None
            sigma_b = torch.full((y.shape[0],), sigma, dtype=dtype, device=device)
            for r in range(noise_per_point):
                n = torch.randn(y.shape, generator=_noise_generator(seed, b, r), dtype=torch.float64).to(device)
                x = y + sigma * n
                d = denoiser(x.to(dtype), sigma_b, batch_labels).to(torch.float64)
                learned_err.append(weight * (d - y).square().flatten(1).mean(1))
                if exact is not None:
                    e = exact(x, sigma_b.to(torch.float64), batch_labels).to(torch.float64)
                    exact_err.append(weight * (e - y).square().flatten(1).mean(1))
                done += 1
                if progress is not None:
                    progress(done, total)
        per_sample = torch.cat(learned_err)
        loss.append(float(per_sample.mean()))
        stderr.append(_stderr(per_sample))
        if exact is not None:
            exact_per_sample = torch.cat(exact_err)
            exact_loss.append(float(exact_per_sample.mean()))
            excess_stderr.append(_stderr(per_sample - exact_per_sample))
    return ErrorProfile(
        sigmas=sigmas,
        loss=loss,
        stderr=stderr,
        exact_loss=exact_loss if exact is not None else None,
        num_samples=int(data.shape[0]) * noise_per_point,
        excess_stderr=excess_stderr if exact is not None else None,
    )


def _stderr(values: Tensor) -> float:
    return float(values.std(unbiased=True) / math.sqrt(values.numel()))





def error_band(profile: ErrorProfile, share: float = 0.8) -> tuple[float, float]:
    """``profile.error_band(share)``: the log-sigma interval where ``share`` of the excess error lives."""
    return profile.error_band(share)
__all__ = ["ErrorProfile", "default_sigma_grid", "error_band", "measure_error_profile"]
