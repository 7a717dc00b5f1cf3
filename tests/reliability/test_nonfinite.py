"""Non-finite losses and gradients stop training with the step and sigma range (or are skipped)."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from tests.reliability.helpers import error_lines, run_cli, tiny_args


class NaNDataAtStep(Callback):
    """Puts a NaN into the training batch of step ``step`` (bad data)."""

    def __init__(self, step: int = 12) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            batch[0, 0] = float("nan")


def nan_args(tmp_path, hook: str, *extra: str) -> list[str]:
    return tiny_args(tmp_path, 20, 5, f"--trainer.callbacks+={hook}", "--trainer.callbacks.step=12", *extra)


def test_nonfinite_gradient_stops_with_step_and_sigma_range_keeping_the_last_good_checkpoint(tmp_path):
    code, _, err = run_cli(nan_args(tmp_path, "tests.reliability.helpers.NaNGradientAtStep"))
    assert code == 1
    [line] = error_lines(err)
    assert "non-finite training gradient (first in model.net." in line
    assert "at step 12, batch sigma range [" in line and "model.on_nonfinite=skip" in line
    last = tmp_path / "toy" / "version_0" / "checkpoints" / "last.ckpt"
    assert str(last) in line
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 10  # the periodic one before the failure, not overwritten
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


def test_nonfinite_loss_from_bad_data_names_the_loss(tmp_path):
    code, _, err = run_cli(nan_args(tmp_path, "tests.reliability.test_nonfinite.NaNDataAtStep"))
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith("error: non-finite training loss at step 12, batch sigma range [")


class NaNEmaAtStep(Callback):
    """Makes one EMA weight NaN after optimizer step ``step`` (a decay gone wrong)."""

    def __init__(self, step: int = 12) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            next(pl_module.ema.module.parameters()).data[0] = float("nan")


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_nonfinite_ema_weights_are_never_written_into_a_checkpoint(tmp_path, policy):
    code, _, err = run_cli(nan_args(tmp_path, "tests.reliability.test_nonfinite.NaNEmaAtStep",
                                    "--model.on_nonfinite", policy))
    assert code == 1, err[-2000:]
    [line] = error_lines(err)
    assert line.startswith("error: non-finite EMA weights (first in ema.module.") and "at step 15" in line
    checkpoint = torch.load(tmp_path / "toy" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 10
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


def test_skip_drops_the_step_and_goes_on(tmp_path):
    with pytest.warns(UserWarning, match=r"non-finite training gradient .* at step 12.*step skipped"):
        code, _, err = run_cli(nan_args(tmp_path, "tests.reliability.helpers.NaNGradientAtStep",
                                        "--model.on_nonfinite", "skip"))
    assert code == 0, err
    checkpoint = torch.load(tmp_path / "toy" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 20
    assert int(checkpoint["state_dict"]["ema.num_updates"]) == 19  # the skipped step moved nothing
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


def test_sampler_nonfinite_error_reaches_the_user_as_one_line(trained_checkpoint, tmp_path):
    checkpoint = torch.load(trained_checkpoint, weights_only=True)
    for key, value in checkpoint["state_dict"].items():
        if key.startswith("ema.module.") and value.is_floating_point():
            value.fill_(float("nan"))
    broken = tmp_path / "nan_ema.ckpt"
    torch.save(checkpoint, broken)
    args = tiny_args(tmp_path, 20, 10, "--ckpt_path", str(broken), command="test")
    code, _, err = run_cli([*args, "--sampler", "heun", "--sampler.num_steps", "4"])
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith("error: samples became non-finite at sigma = ")
    assert "sampler 'heun', seeds 0.." in line
