"""Where a run writes, and which checkpoints it keeps.

- ``trainer.default_root_dir`` decides where runs go: the loggers' ``save_dir`` of the config
  files (``logs``) is replaced by it, unless the command line sets a logger's ``save_dir`` (or the
  whole logger) explicitly. Lightning itself ignores ``default_root_dir`` once a logger is
  configured, and every config here configures one.
- ``--checkpoint.monitor val/<metric>/<sampler>`` keeps the best checkpoints by a value computed
  at validation time. Lightning's ``every_n_train_steps`` would score a checkpoint written between
  two evaluations with the previous evaluation's value, so the monitored checkpoint is saved right
  after each evaluation instead, and a second, unmonitored ``ModelCheckpoint`` keeps writing
  ``last.ckpt`` every ``every_n_train_steps`` steps (so a killed run still loses at most that much).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

LOGGER_OPTION = "--trainer.logger"
ROOT_OPTION = "--trainer.default_root_dir"


def _given(args: Sequence[str], option: str) -> list[str]:
    return [a.partition("=")[0] for a in args if a.partition("=")[0].startswith(option)]


def save_dir_given(args: Sequence[str]) -> bool:
    """Whether the command line sets a logger's save_dir (or replaces the logger)."""
    keys = _given(args, LOGGER_OPTION)
    return any(key == LOGGER_OPTION or key.endswith(".save_dir") for key in keys)


def apply_default_root_dir(trainer_config: Any, args: Sequence[str]) -> None:
    """Point the configured loggers' ``save_dir`` at ``trainer.default_root_dir`` (see module docstring)."""
    root = trainer_config.get("default_root_dir")
    if root is None or save_dir_given(args):
        return
    loggers = trainer_config.get("logger")
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        init_args = logger.get("init_args") if hasattr(logger, "get") else None
        if init_args is not None and "save_dir" in init_args:
            init_args["save_dir"] = str(root)


def checkpoints_for(checkpoint: ModelCheckpoint, init_values: dict[str, Any]) -> list[ModelCheckpoint]:
    """The checkpoint callbacks that implement ``checkpoint`` (built from ``init_values``; see module docstring)."""
    periodic = init_values.get("every_n_train_steps") or init_values.get("train_time_interval")
    monitor = init_values.get("monitor")
    if not (monitor and str(monitor).startswith("val/") and periodic):
        return [checkpoint]
    at_evaluations = ModelCheckpoint(**{**init_values, "every_n_train_steps": None, "train_time_interval": None,
                                        "save_last": False})
    if not init_values.get("save_last"):
        return [at_evaluations]
    last = ModelCheckpoint(**{**init_values, "monitor": None, "save_top_k": 0})
    return [at_evaluations, last]
