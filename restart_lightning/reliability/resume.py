"""``--ckpt_path last``: the newest last checkpoint of the experiment, wherever the run wrote it.

Every run writes into a new ``<save_dir>/<name>/version_<k>/`` (nothing is overwritten), so the
checkpoint to resume from lives in an earlier version directory, not in the one the resumed run
will write. Lightning's own ``"last"`` only looks in the new run's directory and would silently
start from scratch; this resolves ``"last"`` before Lightning sees it, among
- ``<save_dir>/<name>/<version>/checkpoints/last*.ckpt`` of the configured logger,
- ``last*.ckpt`` in an explicit ``checkpoint.dirpath``,
- under SLURM, the requeue checkpoints ``hpc_ckpt_*.ckpt`` in ``trainer.default_root_dir``,
and picks the most recently written one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.environments import SLURMEnvironment

DEFAULT_LOGGER_NAME = "lightning_logs"  # Lightning's default TensorBoardLogger name


def _get(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def experiment_directories(trainer_config: Any) -> list[Path]:
    """``<save_dir>/<name>`` of every logger in the trainer config that has them."""
    root = Path(_get(trainer_config, "default_root_dir") or os.getcwd())
    loggers = _get(trainer_config, "logger", True)
    if loggers is None or loggers is True:
        return [root / DEFAULT_LOGGER_NAME]
    if loggers is False:
        return []
    directories = []
    for logger in loggers if isinstance(loggers, (list, tuple)) else [loggers]:
        init_args = _get(logger, "init_args", logger)
        save_dir = _get(init_args, "save_dir")
        if save_dir is None:
            continue
        name = _get(init_args, "name", DEFAULT_LOGGER_NAME)
        directories.append(Path(save_dir) / name if name else Path(save_dir))
    return directories


def last_checkpoint_candidates(trainer_config: Any, checkpoint_config: Any = None) -> list[Path]:
    """Every file ``--ckpt_path last`` may mean (see module docstring)."""
    candidates: list[Path] = []
    for directory in experiment_directories(trainer_config):
        candidates += directory.glob("*/checkpoints/last*.ckpt")
        candidates += directory.glob("checkpoints/last*.ckpt")
    root = Path(_get(trainer_config, "default_root_dir") or os.getcwd())
    if _get(trainer_config, "logger", True) is False:
        candidates += root.glob("checkpoints/last*.ckpt")
    dirpath = _get(checkpoint_config, "dirpath")
    if dirpath:
        candidates += Path(dirpath).glob("last*.ckpt")
    if SLURMEnvironment.detect():
        candidates += root.glob("hpc_ckpt_*.ckpt")
    return [c for c in dict.fromkeys(candidates) if c.is_file()]


def find_last_checkpoint(trainer_config: Any, checkpoint_config: Any = None) -> Path | None:
    """The most recently written candidate, or None."""
    candidates = last_checkpoint_candidates(trainer_config, checkpoint_config)
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def clear_finished_epoch_sums(module: Any, checkpoint: dict, prefix: str) -> None:
    """Zero the epoch-metric sums under ``prefix`` in a checkpoint written after the epoch's last batch.

    Epoch metrics kept in checkpoints (so that a resume in the middle of an epoch logs the same
    epoch means) must not carry a finished epoch into the next one: an epoch-end checkpoint
    (ModelCheckpoint's ``every_n_epochs``) is written after the last batch but before Lightning
    logs and resets the epoch's metrics. Batch-end checkpoints (``every_n_train_steps``, preemption,
    the final step) keep their sums.
    """
    trainer = getattr(module, "_trainer", None)
    progress = getattr(getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None), "batch_progress", None)
    if progress is None or not progress.is_last_batch or progress.current.completed != progress.current.ready:
        return
    state = checkpoint.get("state_dict", {})
    for key, value in state.items():
        if key.startswith(prefix):
            state[key] = value.new_zeros(value.shape)


def metric_state_prefixes(module: Any) -> list[str]:
    """``<name>.`` of every torchmetrics Metric inside ``module`` (their states are sums, not weights)."""
    from torchmetrics import Metric

    return [f"{name}." for name, sub in module.named_modules() if name and isinstance(sub, Metric)]


def fill_missing_metric_states(module: Any, checkpoint: dict) -> None:
    """Checkpoints written before metric states were saved load with those states at their start values."""
    state = checkpoint.get("state_dict")
    if state is None:
        return
    prefixes = tuple(metric_state_prefixes(module))
    for key, value in module.state_dict().items():
        if prefixes and key.startswith(prefixes) and key not in state:
            state[key] = value.detach().clone()
