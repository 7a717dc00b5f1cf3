"""SIGTERM and SIGUSR1 save ``last.ckpt`` at the step they arrive; SLURM's requeue handler is left alone."""

from __future__ import annotations

import re
import signal

import pytest
import torch

from restart_lightning.reliability import load_checkpoint_file
from tests.reliability.helpers import RecordSignalHandler, run_cli, start_main, tiny_args, wait_for

SLURM_ENV = {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "train", "SLURM_JOB_ID": "4242", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "node1"}


def test_sigterm_saves_a_checkpoint_of_that_moment(tmp_path):
    log = tmp_path / "run.log"
    # every_n_train_steps 15: periodic checkpoints at 15, 30, ...; the SIGTERM one lands in between.
    process = start_main(tiny_args(tmp_path, 100_000, 15), log)
    run = tmp_path / "toy" / "version_0" / "checkpoints"
    try:
        wait_for(run / "step0000015.ckpt", process)
        process.send_signal(signal.SIGTERM)
        code = process.wait(120)
    finally:
        process.kill()
    text = log.read_text()
    assert code == 128 + signal.SIGTERM, text[-3000:]
    assert "Traceback" not in text
    stopped = re.search(r"stopping on SIGTERM at step (\d+): saved (\S+); resume with --ckpt_path last", text)
    assert stopped, text[-3000:]
    step = int(stopped.group(1))
    assert stopped.group(2) == str(run / "last.ckpt")
    checkpoint = load_checkpoint_file(run / "last.ckpt")
    assert checkpoint["global_step"] == step >= 15
    assert int(checkpoint["state_dict"]["ema.num_updates"]) == step  # EMA of that very step
    assert checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"consumed": step}]
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []  # no temporary files left


def test_sigusr1_outside_slurm_saves_and_stops(tmp_path):
    args = tiny_args(tmp_path, 40, 100, "--trainer.callbacks+=tests.reliability.helpers.SignalAtStep",
                     "--trainer.callbacks.step=7")
    code, _, err = run_cli(args)
    assert code == 128 + signal.SIGUSR1, err
    assert "stopping on SIGUSR1 at step 7" in err
    checkpoint = torch.load(tmp_path / "toy" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 7
    assert signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None)  # handlers restored


def test_slurm_requeue_keeps_lightnings_sigusr1_handler(tmp_path, monkeypatch):
    for key, value in SLURM_ENV.items():
        monkeypatch.setenv(key, value)
    args = tiny_args(tmp_path, 3, 100, "--trainer.callbacks+=tests.reliability.helpers.RecordSignalHandler")
    code, _, err = run_cli(args)
    assert code == 0, err
    handler = RecordSignalHandler.handler
    # Lightning's auto-requeue handler (hpc checkpoint + scontrol requeue), not ours.
    assert type(handler).__name__ == "_HandlersCompose", handler
    assert any(getattr(h, "__name__", "") == "_slurm_sigusr_handler_fn" for h in handler.signal_handlers)


def test_fit_end_saves_last_between_periodic_checkpoints(tmp_path):
    code, _, err = run_cli(tiny_args(tmp_path, 25, 10))
    assert code == 0, err
    run = tmp_path / "toy" / "version_0" / "checkpoints"
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 25
    assert (run / "step0000020.ckpt").exists()


@pytest.mark.parametrize("kill_after", ["write", "rename"])
def test_a_killed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch, kill_after):
    from restart_lightning.reliability import checkpoint_io

    path = tmp_path / "last.ckpt"
    checkpoint_io.atomic_torch_save({"global_step": 1, "state_dict": {}}, path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill between writing and renaming

    monkeypatch.setattr(checkpoint_io.os, "replace" if kill_after == "rename" else "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint_io.atomic_torch_save({"global_step": 2, "state_dict": {"w": torch.ones(3)}}, path)
    assert load_checkpoint_file(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
