"""Where the Inception weights are looked for, what a missing file says, and the helper offline."""

import urllib.error

import pytest
import torch

from restart_lightning.metrics.weights import (
    INCEPTION_WEIGHTS_URL,
    find_inception_weights,
    hub_checkpoints_dir,
)
from restart_lightning.metrics.weights import (
    main as weights_main,
)

NAME = "weights-inception-2015-12-05-6726825d.pth"


@pytest.fixture
def places(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RESTART_LIGHTNING_CACHE", str(tmp_path / "cache"))
    hub, cache = tmp_path / "torch" / "hub" / "checkpoints", tmp_path / "cache"
    assert hub_checkpoints_dir() == hub
    return hub, cache


def put(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    return path


def test_torch_hub_first_then_the_project_cache(places):
    hub, cache = places
    cached = put(cache / NAME)
    assert find_inception_weights() == cached
    legacy = put(cache / "pt_inception-2015-12-05-6726825d.pth")  # this project's earlier cache name
    cached.unlink()
    assert find_inception_weights() == legacy
    put(hub / NAME)
    assert find_inception_weights() == hub / NAME  # torchmetrics' and torch-fidelity's download wins


def test_a_configured_path_is_used_as_given(places, tmp_path):
    hub, _ = places
    put(hub / NAME)
    mine = put(tmp_path / "mine.pth")
    assert find_inception_weights(mine) == mine
    with pytest.raises(FileNotFoundError) as error:
        find_inception_weights(tmp_path / "missing.pth", field="SamplerEvaluation.inception_weights")
    message = str(error.value)
    assert message.startswith(f"SamplerEvaluation.inception_weights: no weights file at '{tmp_path / 'missing.pth'}'")
    assert INCEPTION_WEIGHTS_URL in message and "\n" not in message


def test_missing_weights_name_the_field_the_places_the_command_and_the_url(places):
    hub, cache = places
    with pytest.raises(FileNotFoundError) as error:
        find_inception_weights(field="SamplerEvaluation.inception_weights")
    message = str(error.value)
    for text in (str(hub / NAME), str(cache / NAME), "python -m restart_lightning.metrics.weights",
                 INCEPTION_WEIGHTS_URL, "set SamplerEvaluation.inception_weights"):
        assert text in message
    assert "\n" not in message


def test_download_helper_offline_is_one_line(places, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(SystemExit) as stop:
        weights_main([])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: could not download {INCEPTION_WEIGHTS_URL} (")
    assert "Temporary failure in name resolution" in err and str(places[0] / NAME) in err


def test_the_evaluation_names_its_own_field(places, tmp_path):
    import lightning.pytorch as pl

    from restart_lightning.callbacks import SamplerEvaluation
    from restart_lightning.data import ToyDataModule
    from restart_lightning.module import DiffusionModule
    from restart_lightning.networks import MLP

    evaluation = SamplerEvaluation({"heun": "heun"}, num_samples=4, feature_extractor="inception", metrics=["fid"])
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[evaluation], enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"or set SamplerEvaluation.inception_weights to the path of a copy"):
        trainer.test(DiffusionModule(MLP(width=8, depth=1)), ToyDataModule(num_val_samples=8), verbose=False)


def test_dinov2_weights_are_found_the_same_way(places):
    from restart_lightning.metrics.weights import MissingWeightsError, find_dinov2_weights

    hub, cache = places
    with pytest.raises(MissingWeightsError) as error:
        find_dinov2_weights()
    assert error.value.kind == "dinov2" and "restart_lightning.metrics.weights --dinov2" in str(error.value)
    renamed = error.value.with_field("SamplerEvaluation.dinov2_weights")
    assert str(renamed).endswith("or set SamplerEvaluation.dinov2_weights to the path of a copy")
    cached = put(cache / "dinov2_vitl14_pretrain.pth")
    assert find_dinov2_weights() == cached
    put(hub / "dinov2_vitl14_pretrain.pth")
    assert find_dinov2_weights() == hub / "dinov2_vitl14_pretrain.pth"
