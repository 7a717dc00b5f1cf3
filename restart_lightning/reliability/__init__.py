"""Reliability: exact resume, atomic checkpoints, preemption, non-finite steps, early one-line errors.

See docs/reliability.md for what a user sees; each module holds one of these ideas.
"""

from restart_lightning.reliability.checkpoint_checks import resolve_ckpt_path
from restart_lightning.reliability.checkpoint_io import AtomicCheckpointIO, atomic_torch_save
from restart_lightning.reliability.config_checks import check_config_files
from restart_lightning.reliability.errors import (
    CheckpointError,
    ConfigError,
    NonFiniteError,
    OneLineErrorParser,
    reported_errors,
)
from restart_lightning.reliability.nonfinite import NonFiniteGuard
from restart_lightning.reliability.preemption import PreemptionCheckpoint
from restart_lightning.reliability.preflight import prepare_run
from restart_lightning.reliability.resume import find_last_checkpoint
from restart_lightning.reliability.safe_load import load_checkpoint_file

__all__ = [
    "AtomicCheckpointIO",
    "CheckpointError",
    "ConfigError",
    "NonFiniteError",
    "NonFiniteGuard",
    "OneLineErrorParser",
    "PreemptionCheckpoint",
    "atomic_torch_save",
    "check_config_files",
    "find_last_checkpoint",
    "load_checkpoint_file",
    "prepare_run",
    "reported_errors",
    "resolve_ckpt_path",
]
