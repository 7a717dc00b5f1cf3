"""Saving ``last.ckpt`` when a cluster preempts the run, and when fit ends between periodic saves.

During training this callback owns SIGTERM, and SIGUSR1 unless Lightning's SLURM auto-requeue
handler has it (that one saves ``hpc_ckpt_<n>.ckpt`` and requeues the job; it is left alone).
Its handler only sets a flag. At the next training batch end (all processes agree on the flag
under DDP) it saves ``last.ckpt`` and stops the run at the next hook, before any validation or
sampler evaluation, with Lightning's ``SIGTERMException``; ``main.py`` exits with 128 + the signal
number. A checkpoint written at a batch end is the state a resumed run continues exactly from
(the same point as ``every_n_train_steps`` checkpoints). A signal that arrives during validation
or sampler evaluation is acted on after it, at the next batch end.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException


def last_checkpoint_path(trainer: pl.Trainer) -> str:
    """Where ``last.ckpt`` of this run goes: the ModelCheckpoint's directory, else ``<log_dir>/checkpoints``."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.dirpath:
        return os.path.join(callback.dirpath, callback.CHECKPOINT_NAME_LAST + callback.FILE_EXTENSION)
    return os.path.join(trainer.log_dir or trainer.default_root_dir, "checkpoints", "last.ckpt")


class PreemptionCheckpoint(Callback):
    """Keeps ``last.ckpt`` where the run stopped: on SIGTERM/SIGUSR1 (see module docstring) and at fit end.

    With a ModelCheckpoint that keeps ``last.ckpt`` (the CLI default), it also saves the final
    step unless that ModelCheckpoint just did, so a run whose ``max_steps`` is not a multiple of
    ``every_n_train_steps`` keeps its last steps. A preemption checkpoint is written in any case.
    """

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal number seen
        self.stopped_by: int | None = None  # set once the checkpoint for that signal is written
        self._saved_step = -1
        self._previous: dict[int, Any] = {}

    # ------------------------------------------------------------------ signals
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning registered its handlers before this hook (SIGUSR1 only under SLURM auto-requeue).
        self._install(signal.SIGTERM)
        sigusr1 = getattr(signal, "SIGUSR1", None)
        if sigusr1 is not None and signal.getsignal(sigusr1) in (signal.SIG_DFL, None):
            self._install(sigusr1)

    def _install(self, signum: int) -> None:
        try:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        except ValueError:  # not in the main thread: leave Lightning's handling
            pass

    def _on_signal(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum

    def _restore_signals(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    # ------------------------------------------------------------------ saving and stopping
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.stopped_by is not None:
            return
        if self._is_last_step(trainer) and self._keeps_last(trainer):
            # Saved at the batch end (not at train end), so that raising max_steps and resuming
            # continues exactly like a run that never stopped.
            self._save(trainer)
        stop = self.received is not None
        if trainer.world_size > 1:  # every process decides together (one tiny all-reduce per step)
            stop = bool(trainer.strategy.reduce_boolean_decision(stop, all=False))
        if stop:
            signum = self.received or signal.SIGTERM
            self._save(trainer)
            self.stopped_by = signum
            if trainer.is_global_zero:
                print(f"stopping on {signal.Signals(signum).name} at step {trainer.global_step}: saved "
                      f"{last_checkpoint_path(trainer)}; resume with --ckpt_path last", file=sys.stderr, flush=True)

    @staticmethod
    def _keeps_last(trainer: pl.Trainer) -> bool:
        callback = trainer.checkpoint_callback
        return isinstance(callback, ModelCheckpoint) and bool(callback.save_last)

    @staticmethod
    def _is_last_step(trainer: pl.Trainer) -> bool:
        return trainer.max_steps is not None and 0 <= trainer.max_steps <= trainer.global_step

    def _stop(self, trainer: pl.Trainer) -> None:
        # After this batch's logs are written, before any further work (validation, next batch).
        if self.stopped_by is not None and not trainer.sanity_checking and not self._is_last_step(trainer):
            raise SIGTERMException(128 + int(self.stopped_by))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._stop(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore_signals()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_signals()
        if trainer.fast_dev_run:
            return
        if self._keeps_last(trainer):
            self._save(trainer)  # when fit ends otherwise than at max_steps (max_epochs, early stopping)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore_signals()

    def _save(self, trainer: pl.Trainer) -> None:
        if self._saved_step == trainer.global_step:
            return
        callback = trainer.checkpoint_callback
        if isinstance(callback, ModelCheckpoint) and callback.save_last is True:
            # Through the ModelCheckpoint, so that its own record of last.ckpt stays right (else it
            # would later write a last-v1.ckpt beside ours); it runs before this callback, so at a
            # periodic step last.ckpt is already current.
            if getattr(callback, "_last_global_step_saved", None) != trainer.global_step:
                callback._save_last_checkpoint(trainer, callback._monitor_candidates(trainer))
        else:
            trainer.save_checkpoint(last_checkpoint_path(trainer), weights_only=False)
        self._saved_step = trainer.global_step
