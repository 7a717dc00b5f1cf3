"""Image runs resume at the exact batch: the digits config killed with SIGKILL continues the same run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import torch

from restart_lightning.data.image_datasets import TensorImageDataset
from restart_lightning.data.resumable_sampler import ResumableSampler
from restart_lightning.reliability import load_checkpoint_file
from restart_lightning.reliability.checkpoint_io import remove_stale_temporaries
from tests.reliability.helpers import (
    max_abs_difference,
    run_cli,
    run_main,
    scalars,
    snapshot,
    start_main,
    tiny_args,
    tiny_digits_args,
    wait_for,
)
from tests.reliability.test_resume_exact import TOLERANCE

MAX_STEPS, EVERY = 70, 10  # 28 batches per epoch: the kill lands in the second epoch, the run ends in the third


def test_sigkill_then_resume_gives_the_same_digits_run(tmp_path):
    # Label dropout (global RNG) and shuffling both matter here; the uninterrupted run is in this process.
    code, _, err = run_cli(tiny_digits_args(tmp_path / "reference", MAX_STEPS, EVERY))
    assert code == 0, err[-3000:]
    killed = start_main(tiny_digits_args(tmp_path / "killed", MAX_STEPS, EVERY, "--checkpoint.save_top_k", "-1"),
                        tmp_path / "killed.log")
    first = tmp_path / "killed" / "digits" / "version_0"
    try:
        wait_for(first / "checkpoints" / "step0000040.ckpt", killed)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.wait(60)
    assert killed.returncode == -signal.SIGKILL
    last = load_checkpoint_file(first / "checkpoints" / "last.ckpt")
    resumed_from = last["global_step"]
    assert 30 <= resumed_from < MAX_STEPS and resumed_from % 28 != 0  # mid-epoch (30 if killed between files)
    [position] = last["loops"]["fit_loop"]["state_dict"]["combined_loader"]  # the loader's saved position
    assert position == {"epoch": resumed_from // 28, "consumed": resumed_from % 28}
    before = snapshot(first)

    result = run_main(tiny_digits_args(tmp_path / "killed", MAX_STEPS, EVERY, "--ckpt_path", "last"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert snapshot(first) == before

    resumed, reference = tmp_path / "killed" / "digits" / "version_1", tmp_path / "reference" / "digits" / "version_0"
    ours, theirs = scalars(resumed)["train/loss"], scalars(reference)["train/loss"]
    assert min(ours) == resumed_from and max(ours) == MAX_STEPS - 1
    worst = max(abs(v - theirs[s]) for s, v in ours.items())
    a = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True)
    weights = max_abs_difference(a["state_dict"], b["state_dict"])
    print(f"\ndigits resumed at step {resumed_from}: max |loss difference| {worst:.3g}, max |weight difference| "
          f"{weights:.3g}")
    assert worst <= TOLERANCE and weights <= TOLERANCE
    assert max_abs_difference(a["optimizer_states"], b["optimizer_states"]) <= TOLERANCE
    assert a["loops"]["fit_loop"]["state_dict"] == b["loops"]["fit_loop"]["state_dict"]  # the data position too


def test_the_training_order_is_a_function_of_seed_epoch_and_position():
    images = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1).expand(10, 1, 1, 2).contiguous()
    images[:, :, :, 1] = -1  # a flip swaps the two pixels
    dataset = TensorImageDataset(images, random_flip=True)

    def epoch(sampler, n):
        return [dataset[item] for item in list(iter(sampler))[:n]]

    full = ResumableSampler(dataset, batch_size=2, seed=3, random_flip=True)
    full.set_epoch(1)
    uninterrupted = epoch(full, 10)
    resumed = ResumableSampler(dataset, batch_size=2, seed=3, random_flip=True)
    resumed.load_state_dict({"epoch": 1, "consumed": 2})
    resumed.set_epoch(1)  # what Lightning calls at the start of the (resumed) epoch: keeps the position
    assert [x[0].tolist() for x in epoch(resumed, 6)] == [x[0].tolist() for x in uninterrupted[4:]]
    flipped = [bool(x[0][0, 0, 0] == -1) for x in uninterrupted]
    assert any(flipped) and not all(flipped)
    resumed.set_epoch(2)  # the next epoch starts at its first batch, in another order
    assert len(list(iter(resumed))) == 10
    assert [x[0].tolist() for x in epoch(resumed, 10)] != [x[0].tolist() for x in uninterrupted]


def test_resume_removes_temporaries_of_a_writer_killed_midway(tmp_path, trained_checkpoint):
    """A kill during a write leaves ``.last.ckpt.<host>-<pid>.<id>.tmp`` (often 0 bytes): removed on resume,
    while a live writer's file (this process) is kept."""
    import socket

    host = socket.gethostname().replace(".", "_")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    stale = directory / f".last.ckpt.{host}-{int(dead.stdout)}.0123abcd.tmp"
    live = directory / f".last.ckpt.{host}-{os.getpid()}.4567cdef.tmp"
    stale.touch()
    live.touch()
    (directory / "last.ckpt").write_bytes(trained_checkpoint.read_bytes())
    code, _, err = run_cli(tiny_args(tmp_path / "logs", 22, 10, "--ckpt_path", str(directory / "last.ckpt")))
    assert code == 0, err[-2000:]
    assert f"note: removed {stale}" in err
    assert not stale.exists() and live.exists()
    assert remove_stale_temporaries(directory) == []  # nothing else to remove
