"""FID end to end on the CPU with a randomly initialised Inception-v3 saved in the real weights format.

Inception runs ~1 s per image here, and the 2048-d eigen-decomposition in the Frechet distance
~25 s, so: the 2048-d test checks the whole pipeline (weights file, uint8 conversion, features,
reference cache) and the moments handed to the distance; the 64-d test checks the value against an
independent computation; the full 2048-d value runs only with RESTART_LIGHTNING_SLOW_TESTS=1.
"""

import os

import numpy as np
import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from torch import nn

import restart_lightning.metrics.fid as fid_module
from restart_lightning.metrics import FrechetDistance, to_uint8


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """state_dict of torch-fidelity's FeatureExtractorInceptionV3 with random values, saved with torch.save.

    The constructor loads weights by itself (downloading them when given no path), so it is built
    with loading disabled: nothing touches the network. He-normal convolutions keep features O(1).
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        mp.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    g = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(module.weight.shape, generator=g) * (2 / fan_in) ** 0.5
    path = tmp_path_factory.mktemp("weights") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), path)
    return path


def images(seed, n, channels=3, size=16):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1


def record_features(metric):
    """Collect (input, output) of every feature-extractor call."""
    calls = []
    metric.inception.register_forward_hook(lambda mod, args, out: calls.append((args[0], out.double())))
    return calls


def frechet_truth(f_gen, f_ref):
    """||mu_g - mu_r||^2 + tr(S_g + S_r - 2 (S_g S_r)^{1/2}) in numpy, via the symmetric
    S_r^{1/2} S_g S_r^{1/2} (same eigenvalues as S_g S_r; robust for rank-deficient covariances)."""
    mu_g, mu_r = f_gen.mean(0), f_ref.mean(0)
    s_g, s_r = np.cov(f_gen, rowvar=False), np.cov(f_ref, rowvar=False)
    w, v = np.linalg.eigh(s_r)
    root_r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root_r @ s_g @ root_r)
    return float(((mu_g - mu_r) ** 2).sum() + np.trace(s_g) + np.trace(s_r) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


def test_fid_2048_pipeline_and_reference_cache(inception_weights, tmp_path, monkeypatch):
    ref_path = tmp_path / "ref_stats.npz"
    real = [images(0, 2), (images(1, 1), torch.zeros(1))]  # a dataloader may yield (images, labels)
    fid = FrechetDistance("inception", reference_stats_path=ref_path, feature_extractor_weights_path=inception_weights)
    assert fid.num_features == 2048 and not fid.has_reference
    calls = record_features(fid)

    with pytest.warns(UserWarning, match="rank deficient"):
        fid.prepare_reference(real)
    assert (fid.reference_stats_computed, fid.reference_stats_loaded) == (1, 0)
    assert all(x.dtype == torch.uint8 and x.shape[1] == 3 for x, _ in calls)
    assert torch.equal(calls[0][0], to_uint8(real[0]))
    f_real = torch.cat([out for _, out in calls]).numpy()
    assert f_real.shape == (3, 2048) and f_real.std(0).mean() > 1e-3  # features are not degenerate
    with np.load(ref_path, allow_pickle=False) as f:
        assert f["mu"].dtype == np.float64 and f["sigma"].shape == (2048, 2048)
        np.testing.assert_allclose(f["mu"], f_real.mean(0), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(f["sigma"], np.cov(f_real, rowvar=False), rtol=1e-5, atol=1e-9)

    calls.clear()
    fid.update(images(2, 1))
    fid.update(images(3, 1))
    f_fake = torch.cat([out for _, out in calls]).numpy()

    # The 2048-d distance itself is slow (module docstring): a stand-in returns only its cheap mean
    # term, ||mu_g - mu_r||^2 of the moments it is handed, so that compute()'s value can be checked
    # against the same term computed here from the recorded features.
    seen = []

    def mean_term(mu_g, sigma_g, mu_r, sigma_r):
        seen.append((mu_g, sigma_g, mu_r, sigma_r))
        return ((mu_g - mu_r) ** 2).sum()

    monkeypatch.setattr(fid_module, "frechet_distance", mean_term)
    with pytest.warns(UserWarning, match="2 generated samples for 2048-dimensional"):
        value = fid.compute().item()
    assert value == pytest.approx(float(((f_fake.mean(0) - f_real.mean(0)) ** 2).sum()), rel=1e-6)
    mu_g, s_g, mu_r, s_r = (t.numpy() for t in seen[0])
    np.testing.assert_allclose(mu_g, f_fake.mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s_g, np.cov(f_fake, rowvar=False), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(mu_r, f_real.mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s_r, np.cov(f_real, rowvar=False), rtol=1e-5, atol=1e-9)

    # reset() between validations keeps the reference and drops the generated features.
    fid.reset()
    assert fid.fake_features_num_samples == 0 and fid.real_features_num_samples == 3

    # A second run loads the cached file and never touches the real data.
    fid2 = FrechetDistance("inception", reference_stats_path=ref_path, feature_extractor_weights_path=inception_weights)
    fid2.prepare_reference(real)
    assert (fid2.reference_stats_computed, fid2.reference_stats_loaded) == (0, 1)
    for a, b in zip(fid2.reference_moments(), fid.reference_moments()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_fid_value_matches_independent_computation(inception_weights):
    fid = FrechetDistance("inception", feature_extractor_weights_path=inception_weights, inception_features=64)
    calls = record_features(fid)
    with pytest.warns(UserWarning):
        fid.prepare_reference([images(10, 5)])
    f_real = calls[0][1].numpy()
    calls.clear()
    fake = images(11, 6) * 0.5
    fid.update(fake[:3])
    fid.update(fake[3:])
    f_fake = torch.cat([out for _, out in calls]).numpy()
    with pytest.warns(UserWarning, match="6 generated samples for 64-dimensional"):
        value = fid.compute()
    assert value.item() == pytest.approx(frechet_truth(f_fake, f_real), rel=1e-6)
    assert value.item() > 0


def test_uint8_and_grayscale_inputs(inception_weights):
    fid = FrechetDistance("inception", feature_extractor_weights_path=inception_weights, inception_features=64)
    gray = images(4, 2, channels=1)
    fid.update(gray)
    fid.update(to_uint8(gray).expand(-1, 3, -1, -1))  # the same images as uint8 RGB
    twice = fid.fake_features_sum.clone()
    fid.reset()
    fid.update(gray)
    torch.testing.assert_close(fid.fake_features_sum * 2, twice)
    with pytest.raises(ValueError, match="images"):
        fid.update(torch.zeros(2, 2))


@pytest.mark.skipif(not os.environ.get("RESTART_LIGHTNING_SLOW_TESTS"), reason="~1 min on CPU")
def test_fid_2048_value(inception_weights):
    fid = FrechetDistance("inception", feature_extractor_weights_path=inception_weights)
    calls = record_features(fid)
    fid.prepare_reference([images(20, 3)])
    fid.update(images(21, 3))
    f_real, f_fake = calls[0][1].numpy(), calls[1][1].numpy()
    assert fid.compute().item() == pytest.approx(frechet_truth(f_fake, f_real), rel=1e-5)


def test_inception_features_are_the_fid_networks(inception_weights, tmp_path):
    from restart_lightning.metrics import InceptionFeatures

    features = InceptionFeatures(inception_weights, num_features=64)
    assert features.num_features == 64 and not features.training
    fid = FrechetDistance("inception", feature_extractor_weights_path=inception_weights, inception_features=64)
    calls = record_features(fid)
    x = images(30, 2, channels=1)
    fid.update(x)
    with torch.no_grad():
        torch.testing.assert_close(features(x).double(), calls[0][1])
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        InceptionFeatures(tmp_path / "nowhere.pth")


def test_kid_shares_the_inception_pass_in_the_suite(inception_weights):
    """The metric suite on digits with Inception: KID from the 2048-d features of one pass."""
    from restart_lightning.data import DigitsDataModule
    from restart_lightning.evaluation.metric_suite import build_metric_suite
    from restart_lightning.metrics import unbiased_mmd2

    suite = build_metric_suite(DigitsDataModule(), "inception", str(inception_weights), names=["kid"],
                               num_reference_samples=2, num_samples=2)
    network = suite.extractors["inception"].network
    calls = []
    network.register_forward_hook(lambda mod, args, out: calls.append(out.double()))
    real = torch.cat([b[0] for b in DigitsDataModule().reference_dataloader()])[:2]
    with torch.no_grad():
        suite.extractors["inception"](real)
    fake = images(31, 2, channels=1, size=8)
    suite.update(fake)
    assert len(calls) == 2
    assert suite.compute()["kid"].item() == pytest.approx(unbiased_mmd2(calls[0], calls[1]).item(), rel=1e-5)
