"""Metrics for low-dimensional (toy) samples [B, d], as torchmetrics ``Metric``s that sync over DDP.

- ``ExactNLL``: mean -log p(x) under the known data density.
- ``ModeCoverage`` / ``HighQualityFraction``: which mixture modes are hit, which samples are near a mode.
- ``SlicedWasserstein``: SW_p distance to a fixed reference sample over seeded random projections.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class ExactNLL(Metric):
    """Mean exact negative log-likelihood -1/n sum_i log p(x_i) of the samples under a known density.

    Args:
        log_prob: maps samples [B, d] to log-densities [B] (e.g. ``GaussianMixture.log_prob``);
            an ``nn.Module`` is registered as a submodule and follows ``.to(device)``.

    ``compute()`` returns a float64 scalar (nats per sample).
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False

    nll_sum: Tensor
    num_samples: Tensor

    def __init__(self, log_prob: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.log_prob = log_prob
        self.add_state("nll_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("num_samples", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, samples: Tensor) -> None:
        log_p = self.log_prob(samples)
        if log_p.shape != samples.shape[:1]:
            raise ValueError(f"log_prob returned shape {tuple(log_p.shape)} for samples {tuple(samples.shape)}.")
        self.nll_sum -= log_p.double().sum()
        self.num_samples += samples.shape[0]

    def compute(self) -> Tensor:
        return self.nll_sum / self.num_samples


class _NearestModeCounts(Metric):
    """Per mode, how many samples lie within ``radius`` of it and nearer to it than to any other mode."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    means: Tensor
    mode_counts: Tensor
    num_samples: Tensor

    def __init__(self, means: Tensor, radius: float) -> None:
        super().__init__()
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim != 2:
            raise ValueError(f"means must be [K, d], got shape {tuple(means.shape)}")
        if not radius > 0:
            raise ValueError(f"radius must be > 0, got {radius}")
        self.radius = float(radius)
        self.register_buffer("means", means, persistent=False)
        self.add_state("mode_counts", torch.zeros(means.shape[0], dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("num_samples", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, samples: Tensor) -> None:
        dist = torch.cdist(samples.to(self.means).flatten(1), self.means)  # [B, K]
        nearest_dist, nearest = dist.min(dim=1)
        hit = nearest_dist <= self.radius
        self.mode_counts += torch.bincount(nearest[hit], minlength=self.means.shape[0])
        self.num_samples += samples.shape[0]


class ModeCoverage(_NearestModeCounts):
    """Fraction of the K modes that received at least ``min_samples`` samples within ``radius``.

    With ``min_share`` s instead, a mode needs max(1, floor(s n / K)) of the n samples seen: the
    threshold follows the sample count, so a seed block of n / B samples is judged like the whole.
    A sample counts for its nearest mode only. ``compute()`` returns a float64 scalar in [0, 1].
    """

    def __init__(self, means: Tensor, radius: float, min_samples: int = 1, min_share: float | None = None) -> None:
        super().__init__(means, radius)
        if min_share is not None and not 0 < min_share <= 1:
            raise ValueError(f"min_share must be in (0, 1], got {min_share}")
        self.min_samples = int(min_samples)
        self.min_share = min_share

    def threshold(self) -> int:
        """Samples a mode needs to count as covered, for the samples seen so far."""
        if self.min_share is None:
            return self.min_samples
        return max(1, int(self.min_share * int(self.num_samples) // self.means.shape[0]))

    def compute(self) -> Tensor:
        return (self.mode_counts >= self.threshold()).double().mean()


class HighQualityFraction(_NearestModeCounts):
    """Fraction of samples within ``radius`` of some mode ("high quality"); a float64 scalar in [0, 1]."""

    def compute(self) -> Tensor:
        return self.mode_counts.sum().double() / self.num_samples


def wasserstein_1d(u_sorted: Tensor, v_sorted: Tensor, p: float = 2.0) -> Tensor:
    """Exact W_p^p between uniform empirical measures on the last axis (values sorted ascending).

    W_p^p = int_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p dt; the quantile functions are step functions
    with steps at i/n and j/m, so the integral is a finite sum over the merged breakpoints.
    Batched over leading axes: [..., n] and [..., m] -> [...].
    """
    n, m = u_sorted.shape[-1], v_sorted.shape[-1]
    if n == m:
        return (u_sorted - v_sorted).abs().pow(p).mean(-1)
    kw = {"dtype": torch.float64, "device": u_sorted.device}
    t = torch.cat([torch.arange(1, n + 1, **kw) / n, torch.arange(1, m + 1, **kw) / m]).sort().values
    widths = torch.diff(t, prepend=t.new_zeros(1))
    mid = t - widths / 2  # inside each interval (t_{k-1}, t_k]
    iu = torch.floor(mid * n).long().clamp_(max=n - 1)
    iv = torch.floor(mid * m).long().clamp_(max=m - 1)
    return ((u_sorted[..., iu] - v_sorted[..., iv]).abs().pow(p) * widths).sum(-1)


def random_projections(dim: int, num_projections: int, seed: int) -> Tensor:
    """[P, d] unit directions drawn from N(0, I) with a CPU generator seeded by ``seed`` (same on every rank)."""
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(num_projections, dim, generator=g, dtype=torch.float64)
    return theta / theta.norm(dim=1, keepdim=True)


class SlicedWasserstein(Metric):
    """Sliced Wasserstein distance SW_p = (mean_theta W_p^p(theta.x, theta.y))^{1/p} to a reference sample.

    The projections theta are fixed at construction from ``seed``; samples are gathered across
    ranks (``cat`` state), so the value does not depend on how samples are split.

    Args:
        reference: [m, d] samples of the target distribution.
        num_projections: number of random unit directions P.
        seed: seed of the projections.
        p: order of the Wasserstein distance.

    ``compute()`` returns SW_p (not its p-th power) as a float64 scalar.
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False

    projections: Tensor
    reference_projections: Tensor

    def __init__(self, reference: Tensor, num_projections: int = 128, seed: int = 0, p: float = 2.0) -> None:
        super().__init__()
        reference = torch.as_tensor(reference, dtype=torch.float64).flatten(1)
        if reference.shape[0] < 1:
            raise ValueError("reference must hold at least one sample")
        self.p = float(p)
        theta = random_projections(reference.shape[1], num_projections, seed)
        self.register_buffer("projections", theta, persistent=False)
        self.register_buffer("reference_projections", (theta @ reference.T).sort(dim=1).values, persistent=False)
        self.add_state("samples", [], dist_reduce_fx="cat")

    def update(self, samples: Tensor) -> None:
        self.samples.append(samples.detach().flatten(1).to(self.projections))

    def compute(self) -> Tensor:
        x = dim_zero_cat(self.samples)
        projected = (self.projections @ x.T).sort(dim=1).values  # [P, n]
        w_pp = wasserstein_1d(projected, self.reference_projections, self.p)  # [P]
        return w_pp.mean().pow(1.0 / self.p)
