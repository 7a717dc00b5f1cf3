"""A run killed with SIGKILL resumes with ``--ckpt_path last`` and continues the very same run."""

from __future__ import annotations

import signal

import torch

from restart_lightning.reliability import load_checkpoint_file
from tests.reliability.helpers import (
    max_abs_difference,
    run_cli,
    run_main,
    scalars,
    snapshot,
    start_main,
    tiny_args,
    wait_for,
)

MAX_STEPS, EVERY = 240, 20
TOLERANCE = 1e-6  # observed: 0 (bit-identical) on the CPU


def test_sigkill_then_resume_continues_the_same_loss_curve(tmp_path):
    # The uninterrupted run, in this process (one thread, as the subprocesses: same float reductions).
    code, _, err = run_cli(tiny_args(tmp_path / "reference", MAX_STEPS, EVERY))
    assert code == 0, err[-3000:]
    killed = start_main(tiny_args(tmp_path / "killed", MAX_STEPS, EVERY, "--checkpoint.save_top_k", "-1"),
                        tmp_path / "killed.log")
    first = tmp_path / "killed" / "toy" / "version_0"
    try:
        wait_for(first / "checkpoints" / "step0000060.ckpt", killed)
        killed.send_signal(signal.SIGKILL)  # mid-training, possibly mid-write of a checkpoint
    finally:
        killed.wait(60)
    assert killed.returncode == -signal.SIGKILL

    last = load_checkpoint_file(first / "checkpoints" / "last.ckpt")  # complete, never torn
    resumed_from = last["global_step"]
    assert EVERY * 2 <= resumed_from < MAX_STEPS and resumed_from % EVERY == 0  # 40 if killed between files
    # A SIGKILL mid-write leaves the partial ``.last.ckpt.<host>-<pid>.<id>.tmp``; resuming deletes such dead
    # temporaries (and nothing else), so they are left out of the comparison and checked to be gone.
    stale = {name for name in snapshot(first) if name.endswith(".tmp")}
    before = {name: value for name, value in snapshot(first).items() if name not in stale}

    result = run_main(tiny_args(tmp_path / "killed", MAX_STEPS, EVERY, "--ckpt_path", "last"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {first / 'checkpoints' / 'last.ckpt'} (step {resumed_from})" in result.stderr
    assert snapshot(first) == before, "resuming must not touch the killed run's directory"  # stale .tmp removed

    # The resumed run (a new version directory) logs what the uninterrupted run logged, and ends in
    # the same state: weights, EMA, optimizer, LR schedule, data position, counters.
    resumed, reference = tmp_path / "killed" / "toy" / "version_1", tmp_path / "reference" / "toy" / "version_0"
    losses = scalars(resumed)["train/loss"]
    assert min(losses) == resumed_from and max(losses) == MAX_STEPS - 1
    worst = assert_same_run(resumed, reference)
    print(f"\nresumed at step {resumed_from}: max |logged value difference| over {len(losses)} steps = {worst:.3g}")
    assert worst <= TOLERANCE


def assert_same_run(resumed, reference) -> float:
    """The final checkpoints match; returns the largest difference of the scalars the resumed run logged."""
    ours, theirs = scalars(resumed), scalars(reference)
    assert "val/loss" in ours and any(tag.startswith("train/loss_sigma") for tag in ours)  # EMA, epoch sums
    worst = max(abs(v - theirs[tag][s]) for tag, values in ours.items() if tag != "hp_metric"
                for s, v in values.items())
    a = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == int(a["state_dict"]["ema.num_updates"])
    assert max_abs_difference(a["state_dict"], b["state_dict"]) <= TOLERANCE  # weights, EMA, epoch sums
    assert max_abs_difference(a["optimizer_states"], b["optimizer_states"]) <= TOLERANCE
    assert a["lr_schedulers"] == b["lr_schedulers"]
    assert a["loops"]["fit_loop"]["state_dict"] == b["loops"]["fit_loop"]["state_dict"]  # data stream position
    return worst


def test_sigterm_during_validation_and_raising_max_steps_resume_exactly(tmp_path):
    """In-process: a stop requested mid-validation saves after it; a finished run extended continues exactly."""
    assert run_cli(tiny_args(tmp_path / "reference", 120, 40, "--trainer.check_val_every_n_epoch", "1"))[0] == 0
    reference = tmp_path / "reference" / "toy" / "version_0"

    stopped = tiny_args(tmp_path / "stopped", 120, 40, "--trainer.check_val_every_n_epoch", "1",
                        "--trainer.callbacks+=tests.reliability.helpers.SignalDuringValidation")
    code, _, err = run_cli(stopped)
    assert code == 128 + signal.SIGTERM and "stopping on SIGTERM at step 51" in err, err[-2000:]
    assert run_cli(tiny_args(tmp_path / "stopped", 120, 40, "--trainer.check_val_every_n_epoch", "1",
                             "--ckpt_path", "last"))[0] == 0
    assert assert_same_run(tmp_path / "stopped" / "toy" / "version_1", reference) <= TOLERANCE

    assert run_cli(tiny_args(tmp_path / "short", 65, 40, "--trainer.check_val_every_n_epoch", "1"))[0] == 0
    assert run_cli(tiny_args(tmp_path / "short", 120, 40, "--trainer.check_val_every_n_epoch", "1",
                             "--ckpt_path", "last"))[0] == 0
    assert assert_same_run(tmp_path / "short" / "toy" / "version_1", reference) <= TOLERANCE
