"""Checkpoints load with weights_only=True; bad files give one clear line before any work."""

from __future__ import annotations

import pytest
import torch

from restart_lightning.module import DiffusionModule
from restart_lightning.networks import MLP
from restart_lightning.reliability import AtomicCheckpointIO, CheckpointError, load_checkpoint_file
from tests.reliability.helpers import error_lines, run_cli, snapshot, tiny_args


def bad_files(directory, good) -> dict:
    data = good.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "text": b"model: not a checkpoint\n",
        "empty": b"",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = directory / f"{name}.ckpt"
        paths[name].write_bytes(content)
    paths["pickle"] = directory / "pickle.ckpt"
    torch.save({"state_dict": {}, "global_step": 0, "net": torch.nn.Linear(2, 2)}, paths["pickle"])
    paths["bare_state_dict"] = directory / "weights.pt"
    torch.save(MLP(width=16, depth=2).state_dict(), paths["bare_state_dict"])
    paths["directory"] = directory
    paths["missing"] = directory / "missing.ckpt"
    return paths


@pytest.mark.parametrize("kind, words", [
    ("truncated", "truncated, corrupt or another file format"), ("text", "not a"), ("empty", "is empty"),
    ("pickle", "pickled Python objects"), ("bare_state_dict", "not a Lightning checkpoint"),
    ("directory", "is a directory"), ("missing", "no checkpoint file"),
])
def test_bad_files_raise_one_line(tmp_path, trained_checkpoint, kind, words):
    path = bad_files(tmp_path, trained_checkpoint)[kind]
    with pytest.raises(CheckpointError) as error:
        AtomicCheckpointIO().load_checkpoint(path)
    message = str(error.value)
    assert words in message and str(path) in message and "\n" not in message


def test_good_checkpoint_loads_weights_only(trained_checkpoint):
    checkpoint = AtomicCheckpointIO().load_checkpoint(trained_checkpoint)
    assert checkpoint["global_step"] == 20 and "ema.num_updates" in checkpoint["state_dict"]


def write_foreign_checkpoints(tmp_path, trained_checkpoint):
    good = load_checkpoint_file(trained_checkpoint)
    other_model = dict(good, hyper_parameters={"hidden_dim": 32, "num_layers": 3})
    torch.save(other_model, tmp_path / "other_model.ckpt")
    # Same class, no network config in the hyperparameters, and a 32-wide MLP: shapes differ.
    module = DiffusionModule(net=MLP(width=32, depth=2), sigma_data=1.4)
    resized = dict(good, state_dict=module.state_dict(), hyper_parameters=dict(module.hparams))
    torch.save(resized, tmp_path / "resized.ckpt")
    return tmp_path / "other_model.ckpt", tmp_path / "resized.ckpt"


@pytest.mark.parametrize("command", ["fit", "test"])
def test_truncated_and_foreign_checkpoints_fail_in_one_line_before_work(tmp_path, trained_run, trained_checkpoint,
                                                                         command):
    files = bad_files(tmp_path, trained_checkpoint)
    other_model, resized = write_foreign_checkpoints(tmp_path, trained_checkpoint)
    before = snapshot(trained_run)
    cases = [(files["truncated"], "is not a readable checkpoint: truncated"),
             (other_model, "was written by another model (hyperparameters hidden_dim, num_layers"),
             (resized, "does not match this model configuration: 50 tensor(s) of another shape")]
    for path, words in cases:
        code, _, err = run_cli(tiny_args(trained_run, 30, 10, "--ckpt_path", str(path), command=command))
        assert code == 2, err
        [line] = error_lines(err)
        assert words in line and str(path) in line, line
        assert "Traceback" not in err
    assert snapshot(trained_run) == before  # nothing written, not even a new version directory


def test_checkpoints_without_saved_epoch_sums_still_load(tmp_path, trained_run, trained_checkpoint):
    """Checkpoints written before the epoch metric sums were saved (older runs) keep working."""
    checkpoint = load_checkpoint_file(trained_checkpoint)
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("bucket_")}
    older = tmp_path / "older.ckpt"
    torch.save(checkpoint, older)
    module = DiffusionModule.load_from_checkpoint(older, weights_only=True)
    assert float(module.bucket_losses.counts.sum()) == 0.0
    code, _, err = run_cli(tiny_args(tmp_path, 20, 10, "--ckpt_path", str(older), command="validate"))
    assert code == 0, err[-2000:]
