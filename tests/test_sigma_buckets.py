"""The loss-by-noise-level diagnostic against a plain per-bucket mean."""

import math

import pytest
import torch

from restart_lightning.sigma_buckets import SIGMA_BUCKET_EDGES, SigmaBucketLoss


def test_bucket_means_match_a_loop_over_buckets():
    gen = torch.Generator().manual_seed(0)
    metric = SigmaBucketLoss()
    all_loss, all_sigma = [], []
    for _ in range(3):  # several steps accumulate
        sigma = torch.exp(torch.randn(257, generator=gen) * 2)
        loss = torch.rand(257, generator=gen)
        metric.update(loss, sigma)
        all_loss.append(loss), all_sigma.append(sigma)
    loss, sigma = torch.cat(all_loss), torch.cat(all_sigma)
    result = metric.compute()
    edges = SIGMA_BUCKET_EDGES
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (sigma >= lo) & (sigma < hi)
        name = f"train/loss_sigma_{lo:g}_to_{hi:g}"
        assert name in result
        assert math.isclose(float(result[name]), float(loss[inside].double().mean()), rel_tol=1e-6)


def test_edges_belong_to_the_bucket_they_open_and_empty_buckets_are_not_reported():
    metric = SigmaBucketLoss()
    metric.update(torch.tensor([1.0, 3.0]), torch.tensor([0.1, 0.5]))
    result = metric.compute()
    assert set(result) == {"train/loss_sigma_0.1_to_0.5", "train/loss_sigma_0.5_to_2"}
    assert float(result["train/loss_sigma_0.1_to_0.5"]) == 1.0
    assert float(result["train/loss_sigma_0.5_to_2"]) == 3.0


def test_sigma_outside_the_edges_is_ignored():
    metric = SigmaBucketLoss(edges=(0.1, 1.0, 2.0))
    metric.update(torch.tensor([5.0, 7.0, 1.0]), torch.tensor([0.01, 2.0, 0.5]))
    assert {k: float(v) for k, v in metric.compute().items()} == {"train/loss_sigma_0.1_to_1": 1.0}


def test_unordered_edges_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        SigmaBucketLoss(edges=(0.0, 2.0, 1.0))
