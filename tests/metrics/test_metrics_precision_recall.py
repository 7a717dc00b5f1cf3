"""Improved precision and recall (k-NN manifolds): closed cases and torch-fidelity's own implementation."""

import pytest
import torch
from torch_fidelity.metric_prc import calculate_precision_recall_full

from restart_lightning.metrics import PrecisionRecall, fraction_inside, knn_radii


def on_a_line(values):
    """Points t -> (t, 0) in the plane."""
    values = torch.as_tensor(values, dtype=torch.float32)
    return torch.stack([values, torch.zeros_like(values)], dim=1)


def test_knn_radii_on_an_integer_grid():
    # k = 3: interior points have neighbours at 1, 1, 2, 2 -> radius 2; the end points 1, 2, 3 -> radius 3.
    radii = knn_radii(on_a_line(range(10)), k=3)
    assert radii.tolist() == [3, 2, 2, 2, 2, 2, 2, 2, 2, 3]


def test_half_overlapping_grids_closed_form():
    """Real 0..99, generated 50..149, k = 3: generated 50..102 lie in the real balls (99's ball has radius 3),
    real 47..99 in the generated ones: precision = recall = 53 / 100."""
    metric = PrecisionRecall(on_a_line(range(100)), k=3)
    fake = on_a_line(range(50, 150))
    metric.update(fake[:30])
    metric.update(fake[30:])
    out = metric.compute()
    assert out["precision"].item() == pytest.approx(0.53, abs=1e-12)
    assert out["recall"].item() == pytest.approx(0.53, abs=1e-12)


def test_identical_and_disjoint_sets():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    same = PrecisionRecall(x)
    same.update(x.flip(0))
    assert {k: v.item() for k, v in same.compute().items()} == {"precision": 1.0, "recall": 1.0}
    far = PrecisionRecall(x)
    far.update(x + 100)
    assert {k: v.item() for k, v in far.compute().items()} == {"precision": 0.0, "recall": 0.0}


def test_matches_torch_fidelity():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g) + 1.0
    metric = PrecisionRecall(real, k=3)
    metric.update(fake)
    out = metric.compute()
    precision, recall = calculate_precision_recall_full(fake, real, neighborhood=3)
    assert out["precision"].item() == pytest.approx(precision, abs=1e-6)
    assert out["recall"].item() == pytest.approx(recall, abs=1e-6)
    assert 0.05 < recall < 0.95 and 0.05 < precision < 0.95  # a case that tells the two apart


def test_real_set_is_a_fixed_subset_of_the_generated_size():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(500, 3, generator=g), torch.randn(120, 3, generator=g) + 0.5
    metric = PrecisionRecall(real, k=3, seed=7)
    metric.update(fake)
    out = metric.compute()
    subset = metric.real_subset(120, "cpu")
    assert subset.shape == (120, 3)
    assert torch.equal(subset, PrecisionRecall(real, seed=7).real_subset(120, "cpu"))  # same on every rank
    precision, recall = calculate_precision_recall_full(fake, subset, neighborhood=3)
    assert (out["precision"].item(), out["recall"].item()) == pytest.approx((precision, recall), abs=1e-6)


def test_fraction_inside_counts_the_boundary():
    centers = on_a_line([0.0])
    assert fraction_inside(on_a_line([1.0, 1.5]), centers, torch.tensor([1.0])).item() == 0.5


def test_too_few_samples():
    metric = PrecisionRecall(on_a_line(range(10)), k=3)
    metric.update(on_a_line(range(3)))
    with pytest.raises(RuntimeError, match="more than 3 generated"):
        metric.compute()
