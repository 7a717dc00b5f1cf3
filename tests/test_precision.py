"""A config's bf16 mixed precision becomes float32 where no GPU will be used."""

import pytest
import torch

from restart_lightning.precision import resolve_precision


@pytest.mark.parametrize("accelerator", ["cpu", "auto", None])
def test_mixed_precision_falls_back_to_float32_without_a_gpu(accelerator, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = {"precision": "bf16-mixed", "accelerator": accelerator}
    resolve_precision(config)
    assert config["precision"] == "32-true"


@pytest.mark.parametrize("accelerator", ["gpu", "cuda", "auto"])
def test_mixed_precision_is_kept_on_gpus(accelerator, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    config = {"precision": "bf16-mixed", "accelerator": accelerator}
    resolve_precision(config)
    assert config["precision"] == "bf16-mixed"


def test_other_precisions_are_left_alone(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = {"precision": "64-true", "accelerator": "cpu"}
    resolve_precision(config)
    assert config["precision"] == "64-true"
