"""Kernel Inception Distance (Binkowski et al. 2018): the unbiased squared MMD with a polynomial kernel.

KID = MMD_u^2 between generated features y_1..y_n and real features x_1..x_m with the kernel
k(a, b) = (gamma a.b + coef)^degree (torchmetrics' ``poly_kernel``; gamma = 1/d, coef = 1,
degree = 3 by default):

    MMD_u^2 = sum_{i != j} k(y_i, y_j) / (n (n - 1)) + sum_{i != j} k(x_i, x_j) / (m (m - 1))
              - 2 sum_{i, j} k(x_i, y_j) / (m n),

an unbiased estimate for any n, m >= 2 (FID's plug-in estimate is biased upward by O(d / n)).
It is computed on all samples, not on torchmetrics' random equal-size subsets: deterministic
(the same value on every rank), defined for any n, and of smaller variance; the evaluation's
seed blocks report the spread instead of subset resampling. Kernel sums are float64, in row chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.image.kid import poly_kernel

from restart_lightning.metrics.real_features import RealFeatures, stacked_features

# Elements of one chunk of a kernel matrix (float64: 128 MiB).
CHUNK_ELEMENTS = 2**24


def kernel_mean(a: Tensor, b: Tensor, degree: int, gamma: float, coef: float, exclude_diagonal: bool = False) -> Tensor:
    """Mean of k(a_i, b_j) over all pairs, or over i != j when ``a`` is ``b`` (``exclude_diagonal``); float64."""
    a, b = a.double(), b.double()
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for block in a.split(max(1, CHUNK_ELEMENTS // max(1, b.shape[0]))):
        total += poly_kernel(block, b, degree, gamma, coef).sum()
    if not exclude_diagonal:
        return total / (a.shape[0] * b.shape[0])
    n = a.shape[0]
    diagonal = ((a * a).sum(1) * gamma + coef) ** degree
    return (total - diagonal.sum()) / (n * (n - 1))


def unbiased_mmd2(x: Tensor, y: Tensor, degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> Tensor:
    """The unbiased MMD^2 estimate between samples x [m, d] and y [n, d] (m, n >= 2) with the polynomial kernel."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (kernel_mean(y, y, degree, gamma, coef, exclude_diagonal=True)
            + kernel_mean(x, x, degree, gamma, coef, exclude_diagonal=True)
            - 2 * kernel_mean(x, y, degree, gamma, coef))


class KernelDistance(Metric):
    """KID: the unbiased MMD^2 of generated features to fixed real features (polynomial kernel).

    Args:
        reference: real features [m, d] (a ``RealFeatures`` shares them, and the real-pair kernel
            mean computed from them, between metrics); or ``set_reference`` later.
        degree, gamma, coef: the kernel (gamma None = 1/d), as in torchmetrics' KID.

    ``update`` takes features [B, d]; ``compute()`` returns KID as a float64 scalar (it can be
    slightly negative: the estimate is unbiased, and 0 is the value for equal distributions).
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False

    def __init__(self, reference: RealFeatures | Tensor | None = None, degree: int = 3, gamma: float | None = None,
                 coef: float = 1.0) -> None:
        super().__init__()
        if not (isinstance(degree, int) and degree >= 1):
            raise ValueError(f"KID degree must be an int >= 1, got {degree!r}")
        if gamma is not None and not gamma > 0:
            raise ValueError(f"KID gamma must be None or > 0, got {gamma!r}")
        if not coef >= 0:
            raise ValueError(f"KID coef must be >= 0, got {coef!r}")
        self.degree, self.gamma, self.coef = degree, gamma, float(coef)
        self.reference: RealFeatures | None = None
        if reference is not None:
            self.set_reference(reference)
        self.add_state("features", [], dist_reduce_fx="cat")

    def set_reference(self, reference: RealFeatures | Tensor) -> None:
        self.reference = reference if isinstance(reference, RealFeatures) else RealFeatures(reference)

    def update(self, features: Tensor) -> None:
        self.features.append(features.detach().flatten(1).float())

    def compute(self) -> Tensor:
        if self.reference is None:
            raise RuntimeError("KernelDistance has no real features; call set_reference(...) before compute().")
        y = stacked_features(self.features, self.reference.dim)
        if y.shape[0] < 2:
            raise RuntimeError(f"KID needs at least 2 generated samples, got {y.shape[0]}.")
        if y.shape[1] != self.reference.dim:
            raise ValueError(f"Generated features have dimension {y.shape[1]}, the real ones {self.reference.dim}.")
        gamma = 1.0 / y.shape[1] if self.gamma is None else self.gamma
        kernel = (self.degree, gamma, self.coef)
        real_pairs = self.reference.derived(
            ("kernel_mean_offdiagonal", *kernel), y.device, lambda x: kernel_mean(x, x, *kernel, exclude_diagonal=True)
        )
        x = self.reference.on(y.device)
        return kernel_mean(y, y, *kernel, exclude_diagonal=True) + real_pairs - 2 * kernel_mean(x, y, *kernel)
