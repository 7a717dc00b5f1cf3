"""EvaluationDataModule: shape, classes or prompts, and reference statistics read without pickles."""

import numpy as np
import pytest
import torch

from restart_lightning.data import EvaluationDataModule
from restart_lightning.evaluation.metric_suite import build_metric_suite


def test_prompts_are_the_non_blank_lines_and_index_the_labels(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("a red cat\n\n  two dogs  \r\nunicode: café\n", encoding="utf-8")
    data = EvaluationDataModule((3, 16, 16), prompts=str(path))
    assert data.prompts == ["a red cat", "two dogs", "unicode: café"]
    assert data.num_classes == 3 and data.data_shape == (3, 16, 16)


def test_loaders_give_seeds_for_predict_and_one_batch_for_test():
    data = EvaluationDataModule((1, 8, 8), num_classes=10, batch_size=4, num_predict_samples=10)
    assert [b.tolist() for b in data.predict_dataloader()] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(list(data.test_dataloader())) == 1 and data.num_classes == 10


@pytest.mark.parametrize("kwargs, message", [
    ({"data_shape": (3, 0, 8)}, "data.data_shape: invalid value \\(3, 0, 8\\); allowed: an integer >= 1"),
    ({"data_shape": (3, 8)}, "data.data_shape: invalid value \\(3, 8\\); allowed: \\[C, H, W\\]"),
    ({"num_classes": -1}, "data.num_classes: invalid value -1; allowed: an integer >= 0"),
    ({"num_classes": 3, "prompts": "p.txt"}, "either num_classes .* or prompts"),
    ({"prompts": "missing.txt"}, "data.prompts: no file at 'missing.txt'"),
    ({"prompts": "empty.txt"}, "holds no prompts"),
    ({"reference_stats": "nostats.npz"}, "data.reference_stats: .*does not exist"),
    ({"reference_stats": "nomu.npz"}, "data.reference_stats: .*lacks key\\(s\\) \\['mu'\\]"),
    ({"reference_stats": "pickled.npz"}, "data.reference_stats: .*pickle"),
])
def test_bad_settings_name_the_field(tmp_path, monkeypatch, kwargs, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_text("\n \n")
    np.savez(tmp_path / "nomu.npz", sigma=np.eye(2))
    np.savez(tmp_path / "pickled.npz", mu=np.array([{"code": "runs when unpickled"}], dtype=object), sigma=np.eye(1))
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        EvaluationDataModule(**{"data_shape": (3, 8, 8), **kwargs})


def test_the_metric_uses_the_given_statistics_and_never_asks_for_images(tmp_path):
    mu, sigma = np.full(3 * 4 * 4, 0.25), np.eye(3 * 4 * 4) * 2.0
    np.savez(tmp_path / "ref.npz", mu=mu, sigma=sigma)
    data = EvaluationDataModule((3, 4, 4), reference_stats=str(tmp_path / "ref.npz"))
    suite = build_metric_suite(data, "identity", reference_stats="auto", num_reference_samples=10)
    mu_r, sigma_r = suite["frechet"].reference_moments()
    assert torch.allclose(mu_r, torch.from_numpy(mu)) and torch.allclose(sigma_r, torch.from_numpy(sigma))
    without = EvaluationDataModule((3, 4, 4))
    with pytest.raises(FileNotFoundError, match="data.reference_stats: EvaluationDataModule has no real images"):
        build_metric_suite(without, "identity", reference_stats="auto", num_reference_samples=10)
