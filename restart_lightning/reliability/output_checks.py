"""Where a run will write, checked before it writes anything: new, writable, never an earlier run's.

``check_outputs`` refuses a run that would write into an earlier run's directory (an explicit
logger version, a ``checkpoint.dirpath`` holding checkpoints) and a run whose log or checkpoint
directory cannot be created and written (a path below a file, a
read-only file system, missing permissions). The probe creates and at once deletes a temporary
file in the nearest existing parent directory, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from restart_lightning.reliability.errors import ConfigError


def check_outputs(cli, config: Any) -> None:
    """All output checks of ``prepare_run`` (rank 0 only; see module docstring)."""
    _check_earlier_runs(cli, config)
    for field, directory in _output_directories(cli, config):
        check_writable(field, directory)


def check_writable(field: str, directory: str | os.PathLike) -> None:
    """ConfigError unless ``directory`` exists as a writable directory or can be created."""
    directory = Path(directory)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"{field}: cannot create '{directory}': '{existing}' is a file, not a directory; allowed: a directory "
            "that can be created and written"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ConfigError(
            f"{field}: cannot write into '{directory}' ({error.strerror or error} in '{existing}'); allowed: a "
            "directory that can be created and written"
        ) from None


def _output_directories(cli, config: Any) -> list[tuple[str, Path]]:
    trainer = cli.trainer
    outputs: list[tuple[str, Path]] = []
    for logger in trainer.loggers:
        log_dir = getattr(logger, "log_dir", None) or getattr(logger, "save_dir", None)
        if log_dir:
            outputs.append(("trainer.logger.init_args.save_dir", Path(log_dir)))
    if not trainer.loggers:
        outputs.append(("trainer.default_root_dir", Path(trainer.default_root_dir)))
    if cli.subcommand == "fit":
        callback = trainer.checkpoint_callback
        dirpath = getattr(callback, "dirpath", None) if callback is not None else None
        explicit = (config.get("checkpoint") or {}).get("dirpath")
        if dirpath or explicit:
            outputs.append(("checkpoint.dirpath", Path(dirpath or explicit)))
    return outputs


def _check_earlier_runs(cli, config: Any) -> None:
    trainer = cli.trainer
    if cli.save_config_callback is not None:
        log_dir = Path(trainer.log_dir or trainer.default_root_dir)
        name = cli.save_config_kwargs.get("config_filename", "config.yaml")
        if (log_dir / name).exists() and not cli.save_config_kwargs.get("overwrite", False):
            raise ConfigError(
                f"trainer.logger: the run directory '{log_dir}' already holds an earlier run ({name}); "
                "leave the logger's version unset to get a new directory"
            )
    if cli.subcommand != "fit":
        return
    explicit = (config.get("checkpoint") or {}).get("dirpath")
    if explicit and Path(explicit).is_dir():
        existing = sorted(Path(explicit).glob("*.ckpt"))
        resume = config.get("ckpt_path")
        resuming_here = resume is not None and Path(str(resume)).resolve().parent == Path(explicit).resolve()
        if existing and not resuming_here:
            raise ConfigError(
                f"checkpoint.dirpath: '{explicit}' already holds checkpoints of an earlier run "
                f"({existing[0].name}, ...); use a new directory, leave it unset (checkpoints then go into the "
                "run's log directory), or resume that run with --ckpt_path last"
            )
