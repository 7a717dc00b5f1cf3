"""KID: the unbiased polynomial-kernel MMD^2, against a direct double sum and torchmetrics' equal-size estimate."""

import numpy as np
import pytest
import torch
from torchmetrics.image.kid import poly_mmd

from restart_lightning.metrics import KernelDistance, RealFeatures, unbiased_mmd2


def direct_mmd2(x, y, degree=3, coef=1.0):
    """sum_{i!=j} k(y_i,y_j)/(n(n-1)) + sum_{i!=j} k(x_i,x_j)/(m(m-1)) - 2 sum k(x_i,y_j)/(mn), k = (a.b/d + c)^deg."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + coef) ** degree

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def features(seed, n, d=3, shift=0.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


@pytest.mark.parametrize("m, n", [(9, 7), (6, 6), (2, 11)])
def test_kid_equals_the_direct_double_sum(m, n):
    real, fake = features(0, m), features(1, n, shift=0.4)
    metric = KernelDistance(real)
    metric.update(fake[:3])
    metric.update(fake[3:])
    value = metric.compute()
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(direct_mmd2(real.numpy(), fake.numpy()), rel=1e-9, abs=1e-12)
    assert unbiased_mmd2(real, fake).item() == pytest.approx(value.item(), rel=1e-12)


def test_kid_other_kernels_and_chunked_sums(monkeypatch):
    import restart_lightning.metrics.kernel as kernel

    monkeypatch.setattr(kernel, "CHUNK_ELEMENTS", 5)  # rows of one chunk: 5 // 8 -> 1
    real, fake = features(2, 8), features(3, 6)
    metric = KernelDistance(real, degree=2, coef=0.5)
    metric.update(fake)
    assert metric.compute().item() == pytest.approx(direct_mmd2(real.numpy(), fake.numpy(), 2, 0.5), rel=1e-9)


def test_kid_equals_torchmetrics_on_equal_sizes():
    real, fake = features(4, 40, d=16), features(5, 40, d=16, shift=0.2)
    metric = KernelDistance(real)
    metric.update(fake)
    expected = poly_mmd(real.double(), fake.double())  # torchmetrics' estimator (equal sizes only)
    assert metric.compute().item() == pytest.approx(expected.item(), rel=1e-9)


def test_kid_is_unbiased_for_equal_distributions():
    """The mean of the estimate over independent draws is 0 (FID's plug-in estimate is not)."""
    values = []
    for rep in range(300):
        metric = KernelDistance(features(2 * rep, 8, d=2))
        metric.update(features(2 * rep + 1, 8, d=2))
        values.append(metric.compute().item())
    values = np.asarray(values)
    assert abs(values.mean()) < 3 * values.std() / np.sqrt(len(values))
    assert (values < 0).any()  # unbiased, so not floored at 0


def test_real_pair_term_is_computed_once_and_shared():
    real = RealFeatures(features(6, 10))
    calls = []
    original = real.derived

    def counting(key, device, fn):
        return original(key, device, lambda x: calls.append(key) or fn(x))

    real.derived = counting
    a, b = KernelDistance(real), KernelDistance(real)
    for metric in (a, b, a):
        metric.reset()
        metric.update(features(7, 5))
        metric.compute()
    assert len(calls) == 1


def test_kid_errors():
    with pytest.raises(RuntimeError, match="set_reference"):
        KernelDistance().compute()
    metric = KernelDistance(features(0, 5))
    metric.update(features(1, 1))
    with pytest.raises(RuntimeError, match="at least 2 generated"):
        metric.compute()
    with pytest.raises(ValueError, match="degree"):
        KernelDistance(degree=0)
