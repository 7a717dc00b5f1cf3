"""Gaussian moments from running sums, and the Frechet distance between two Gaussians.

The distance itself is torchmetrics' ``_compute_fid``:
d^2 = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.image.fid import _compute_fid


def gaussian_moments(feature_sum: Tensor, cov_sum: Tensor, num_samples: Tensor | int) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance from sum_i f_i, sum_i f_i f_i^T and n (as torchmetrics' FID does).

    mu = sum / n;  S = (sum_i f_i f_i^T - n mu mu^T) / (n - 1).
    """
    n = torch.as_tensor(num_samples, dtype=torch.float64, device=feature_sum.device)
    mu = feature_sum.double() / n
    sigma = (cov_sum.double() - n * torch.outer(mu, mu)) / (n - 1)
    return mu, sigma


def sums_from_moments(mu: Tensor, sigma: Tensor, num_samples: int) -> tuple[Tensor, Tensor]:
    """Inverse of ``gaussian_moments``: (sum_i f_i, sum_i f_i f_i^T) of n samples with mean mu and covariance S."""
    mu, sigma = mu.double(), sigma.double()
    return num_samples * mu, (num_samples - 1) * sigma + num_samples * torch.outer(mu, mu)


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> Tensor:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    return _compute_fid(mu1.double(), sigma1.double(), mu2.double(), sigma2.double())
