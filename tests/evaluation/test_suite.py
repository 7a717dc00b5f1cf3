"""The metric suite: one feature pass shared by FID/KID/precision/recall, seed-block copies, names and defaults."""

import numpy as np
import pytest
import torch
from torch import nn
from torch_fidelity.metric_prc import calculate_precision_recall_full

from restart_lightning.data import DigitsDataModule, ToyDataModule
from restart_lightning.data.toy import sample_toy
from restart_lightning.evaluation.metric_suite import build_metric_suite
from restart_lightning.metrics import FrechetDistance, unbiased_mmd2


class Projection(nn.Module):
    """A fixed 64 -> 6 feature network that counts its calls."""

    num_features = 6

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 6)
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(0))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.tanh(self.linear(x.flatten(1)))


def digit_like(seed, n):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_one_feature_pass_feeds_every_metric_and_the_real_side_is_cached():
    net = Projection()
    suite = build_metric_suite(DigitsDataModule(), net, reference_stats="auto", num_reference_samples=400,
                               num_samples=90)
    assert suite.names == ["frechet", "kid", "precision", "recall"]
    assert net.calls == 4  # the real pass: 400 images in batches of 128
    samples = digit_like(1, 90)
    net.calls = 0
    suite.reset()
    for chunk in samples.split(30):
        suite.update(chunk)
    values = suite.compute()
    assert net.calls == 3  # once per batch, for all four metrics

    with torch.no_grad():
        real = net(torch.cat([b[0] for b in DigitsDataModule().reference_dataloader()])[:400])
        fake = net(samples)
    frechet = FrechetDistance(nn.Identity(), num_features=6)
    frechet.prepare_reference([real])
    frechet.update(fake)
    assert values["frechet"].item() == pytest.approx(frechet.compute().item(), rel=1e-6)
    assert values["kid"].item() == pytest.approx(unbiased_mmd2(real, fake).item(), rel=1e-5, abs=1e-9)
    subset = suite["precision"].real_subset(90, "cpu")
    precision, recall = calculate_precision_recall_full(fake, subset, neighborhood=3)
    assert (values["precision"].item(), values["recall"].item()) == pytest.approx((precision, recall), abs=1e-6)

    # A second run reads mu/sigma and the features from the cache: no pass over the real data.
    net.calls = 0
    again = build_metric_suite(DigitsDataModule(), net, reference_stats="auto", num_reference_samples=400,
                               num_samples=90)
    assert net.calls == 0 and again["frechet"].reference_stats_loaded == 1


def test_seed_block_copies_equal_fresh_metrics_on_each_block():
    names = ["sliced_w2", "nll", "mode_coverage", "in_mode_fraction", "frechet", "kid", "precision", "recall"]
    data = ToyDataModule()
    suite = build_metric_suite(data, names=names, num_reference_samples=500, num_samples=62, seed_blocks=3)
    assert suite.num_blocks == 3 and suite.block_size == 20
    samples = sample_toy("grid", 62, torch.Generator().manual_seed(5)) * 1.1
    order = torch.randperm(62, generator=torch.Generator().manual_seed(6))  # batches in any order
    for rows in order.split(17):
        suite.update(samples[rows], indices=rows)
    blocks = suite.compute_blocks()
    for b in range(3):
        fresh = build_metric_suite(data, names=names, num_reference_samples=500, num_samples=20)
        expected = fresh.score(samples[20 * b: 20 * (b + 1)])
        for name in names:
            assert blocks[name][b] == pytest.approx(expected[name], rel=1e-6, abs=1e-9), (name, b)
    full = build_metric_suite(data, names=names, num_reference_samples=500, num_samples=62).score(samples)
    assert {k: float(v) for k, v in suite.compute().items()} == pytest.approx(full, rel=1e-6)
    # Copies share the real features (and what is derived from them) instead of copying them.
    i = next(j for j, m in enumerate(suite.metrics) if m is suite["kid"])
    for copies in suite.block_copies:
        assert copies[i] is not suite["kid"] and copies[i].reference is suite["kid"].reference


def test_frechet_cannot_tell_the_ring_from_the_grid_but_sliced_w2_can():
    """Why the 2-D default leads with sliced W2: 8 modes on a circle of radius 2 and the 5x5 grid (spacing 1)
    share mean 0 and covariance 2 I."""
    suite = build_metric_suite(ToyDataModule(name="grid"), names=["sliced_w2", "frechet"],
                               num_reference_samples=20_000, num_samples=4000)
    ring = suite.score(sample_toy("ring", 4000, torch.Generator().manual_seed(0)))
    grid = suite.score(sample_toy("grid", 4000, torch.Generator().manual_seed(1)))
    assert ring["frechet"] < 0.01 and grid["frechet"] < 0.01
    assert ring["sliced_w2"] > 5 * grid["sliced_w2"]


def test_defaults_and_names():
    toy = build_metric_suite(ToyDataModule(), num_reference_samples=200, num_samples=100)
    assert toy.names[:1] == ["sliced_w2"] and {"nll", "mode_coverage", "in_mode_fraction"} <= set(toy.names)
    assert "frechet" not in toy.names
    assert build_metric_suite(ToyDataModule(name="moons"), num_reference_samples=200).names == ["sliced_w2"]
    digits = build_metric_suite(DigitsDataModule(), "identity", num_reference_samples=300, num_samples=100)
    assert digits.names == ["frechet", "kid", "precision", "recall"]
    assert "kid" in digits and isinstance(digits["frechet"], FrechetDistance)


class NoRealData(DigitsDataModule):
    def reference_dataloader(self, batch_size=None):
        raise AssertionError("the real data must not be read before the metrics are known to be buildable")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"names": ["fid"]}, ValueError, "'fid' is not available for NoRealData with feature_extractor identity"),
    ({"names": ["nll"]}, ValueError, "'nll' is not available"),
    ({"names": ["lpips"]}, ValueError, "unknown metric 'lpips'; allowed: fid, frechet"),
    ({"names": ["kid", "kid"]}, ValueError, "unique"),
    ({"names": ["fd_dinov2"], "dinov2_weights": "/nowhere/dinov2.pth"}, FileNotFoundError, "/nowhere/dinov2.pth"),
    ({"names": ["clip_score"]}, ValueError, "clip_score needs a text-conditional datamodule exposing `prompts`"),
    ({"names": ["kid"], "seed_blocks": 60}, ValueError, "60 blocks of 100 samples"),
])
def test_bad_selections_fail_before_reading_data(kwargs, error, message):
    with pytest.raises(error, match=message):
        build_metric_suite(NoRealData(), "identity", num_samples=100, **kwargs)


def test_clip_score_reads_each_samples_prompt_through_the_suite(tmp_path):
    pytest.importorskip("transformers")
    from tests.metrics.test_metrics_clip import PROMPTS, clip_dir, direct_scores  # noqa: F401

    class Prompted(DigitsDataModule):
        prompts = PROMPTS
        num_classes = 3

    path = clip_dir.__wrapped__(type("F", (), {"mktemp": lambda self, name: tmp_path})())
    suite = build_metric_suite(Prompted(), "identity", names=["clip_score", "frechet"], clip_model=str(path),
                               num_reference_samples=100, num_samples=4)
    images, labels = digit_like(3, 4), torch.tensor([2, 0, 1, 1])
    suite.update(images, labels=labels)
    expected = direct_scores(path, images, [PROMPTS[i] for i in labels]).mean().item()
    assert suite.names == ["clip_score", "frechet"]
    assert float(suite["clip_score"].score / 4) == pytest.approx(expected, abs=1e-3)
    assert np.isfinite(float(suite.compute()["frechet"]))
