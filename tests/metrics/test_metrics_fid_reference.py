"""Reference statistics caching, weights-file handling and custom feature modules (no Inception here)."""

import hashlib
import re

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from restart_lightning.metrics import (
    INCEPTION_WEIGHTS_URL,
    FrechetDistance,
    download_inception_weights,
    load_reference_stats,
    save_reference_stats,
)
from restart_lightning.metrics.weights import CACHE_ENV_VAR
from restart_lightning.metrics.weights import main as weights_main


class CountingData:
    """An iterable of real batches that counts how often it is iterated."""

    def __init__(self, batches):
        self.batches = batches
        self.iterations = 0

    def __iter__(self):
        self.iterations += 1
        return iter(self.batches)


def real_batches():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(64, 2, generator=g) for _ in range(3)]


def test_reference_computed_once_cached_and_loaded(tmp_path):
    path = tmp_path / "stats" / "toy_ref.npz"
    data = CountingData(real_batches())
    metric = FrechetDistance("identity", reference_stats_path=path, num_features=2)
    assert not metric.has_reference and metric.reference_stats_loaded == 0

    metric.prepare_reference(data)
    assert (metric.reference_stats_computed, metric.reference_stats_loaded, data.iterations) == (1, 0, 1)
    with np.load(path, allow_pickle=False) as f:
        assert f["mu"].dtype == np.float64 and f["sigma"].dtype == np.float64
        assert f["mu"].shape == (2,) and f["sigma"].shape == (2, 2)
        assert int(f["num_samples"]) == 192
        x = torch.cat(data.batches).double().numpy()
        np.testing.assert_allclose(f["mu"], x.mean(0), rtol=1e-10)
        np.testing.assert_allclose(f["sigma"], np.cov(x, rowvar=False), rtol=1e-9)

    # Validation loops: update/compute/reset never recompute the reference.
    for _ in range(3):
        metric.prepare_reference(data)
        metric.update(torch.randn(32, 2))
        metric.compute()
        metric.reset()
        assert metric.real_features_num_samples == 192
    assert (metric.reference_stats_computed, data.iterations) == (1, 1)

    # A new instance (a new run) loads the file at construction and ignores the data.
    again = FrechetDistance("identity", reference_stats_path=path, num_features=2)
    again.prepare_reference(data)
    assert (again.reference_stats_computed, again.reference_stats_loaded, data.iterations) == (0, 1, 1)
    for a, b in zip(again.reference_moments(), metric.reference_moments()):
        torch.testing.assert_close(a, b)


def test_max_samples_caps_the_reference(tmp_path):
    metric = FrechetDistance("identity", reference_stats_path=tmp_path / "r.npz", num_features=2)
    metric.prepare_reference(real_batches(), max_samples=100)
    assert metric.real_features_num_samples == 100
    x = torch.cat(real_batches())[:100].double()
    torch.testing.assert_close(metric.reference_moments()[0], x.mean(0))


def test_edm_style_file_without_num_samples_loads(tmp_path):
    path = tmp_path / "edm.npz"
    mu, sigma = np.array([1.0, 2.0, 3.0]), np.diag([1.0, 2.0, 3.0])
    np.savez(path, mu=mu, sigma=sigma)  # EDM reference format: only mu and sigma
    metric = FrechetDistance("identity", reference_stats_path=path, num_features=3)
    got_mu, got_sigma = metric.reference_moments()
    np.testing.assert_allclose(got_mu.numpy(), mu)
    np.testing.assert_allclose(got_sigma.numpy(), sigma, atol=1e-12)


def test_wrong_dimension_reference_file_is_a_value_error(tmp_path):
    path = save_reference_stats(tmp_path / "ref64.npz", np.zeros(64), np.eye(64))
    with pytest.raises(ValueError, match=r"ref64\.npz.*dimension 64.*produces 2-dimensional"):
        FrechetDistance("identity", reference_stats_path=path, num_features=2)
    with pytest.raises(ValueError, match="64"):
        load_reference_stats(path, expected_dim=2048)


def test_malformed_reference_files(tmp_path):
    np.savez(tmp_path / "nokey.npz", mu=np.zeros(2))
    with pytest.raises(ValueError, match=r"nokey\.npz.*sigma"):
        load_reference_stats(tmp_path / "nokey.npz")
    np.savez(tmp_path / "shape.npz", mu=np.zeros(2), sigma=np.eye(3))
    with pytest.raises(ValueError, match="shape"):
        load_reference_stats(tmp_path / "shape.npz")


def test_prepare_reference_without_file_or_data_fails(tmp_path):
    metric = FrechetDistance("identity", reference_stats_path=tmp_path / "absent.npz", num_features=2)
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        metric.prepare_reference()
    metric.update(torch.randn(4, 2))
    with pytest.raises(RuntimeError, match="prepare_reference"):
        metric.compute()


def test_missing_inception_weights_names_path_and_url(tmp_path):
    missing = tmp_path / "nowhere" / "pt_inception-2015-12-05-6726825d.pth"
    with pytest.raises(FileNotFoundError) as err:
        FrechetDistance("inception", feature_extractor_weights_path=missing)
    assert str(missing) in str(err.value) and INCEPTION_WEIGHTS_URL in str(err.value)


def test_default_weights_location_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "cache"))):
        FrechetDistance("inception")


def test_download_weights_from_local_url(tmp_path, monkeypatch):
    src = tmp_path / "src.pth"
    torch.save({"w": torch.arange(5)}, src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    target = tmp_path / "cache" / "weights.pth"
    assert download_inception_weights(target, url=src.as_uri(), hash_prefix=sha[:8], progress=False) == target
    assert target.read_bytes() == src.read_bytes()

    def no_network(*args, **kwargs):
        raise AssertionError("an existing file must not be downloaded again")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    assert download_inception_weights(target) == target

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, **kw: calls.append((url, dst)))
    weights_main([])  # by default where torchmetrics and torch-fidelity look: torch hub's checkpoints
    target = tmp_path / "torch" / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    assert calls == [(INCEPTION_WEIGHTS_URL, str(target))]


class Linear2to3(nn.Module):
    num_features = 3

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.lin(x))


def test_custom_feature_module_stays_in_eval_and_matches_manual_features():
    net = Linear2to3()
    metric = FrechetDistance(net)
    metric.train()  # e.g. a parent module switching to training mode
    assert not metric.inception.training
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(5))
    y = torch.randn(300, 2, generator=torch.Generator().manual_seed(6)) + 0.5
    metric.prepare_reference([x])
    metric.update(y)
    with torch.no_grad():
        fx, fy = net.lin(x).double(), net.lin(y).double()
    mu_x, s_x = fx.mean(0), torch.cov(fx.T)
    mu_y, s_y = fy.mean(0), torch.cov(fy.T)
    covmean = scipy.linalg.sqrtm((s_y @ s_x).numpy()).real
    expected = ((mu_y - mu_x) ** 2).sum().item() + np.trace((s_y + s_x).numpy() - 2 * covmean)
    assert metric.compute().item() == pytest.approx(expected, rel=1e-5)


def test_module_without_num_features_needs_it():
    with pytest.raises(ValueError, match="num_features"):
        FrechetDistance(nn.Linear(2, 3))
    assert FrechetDistance(nn.Linear(2, 3), num_features=3).num_features == 3
    with pytest.raises(ValueError, match="identity"):
        FrechetDistance("identity")
    with pytest.raises(ValueError, match="inception"):
        FrechetDistance("resnet")
