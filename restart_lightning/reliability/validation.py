"""Checks run when the command starts, before any file is written or any expensive work is done.

``resolve_ckpt_path`` runs right after parsing: Lightning's own settings (``trainer_checks``),
``--ckpt_path last`` becomes a file, a bad file (or, for ``fit``, one without optimizer state) is
refused in one line before Lightning reads its hyperparameters, and temporary files of a
checkpoint write killed midway are removed. ``prepare_run`` runs after the model, data and
trainer are built and before anything is written: where the run writes (``output_checks``),
a checkpoint that does not fit the model, the network against the data (``model_checks``), then
every component's own check of its inputs (``check_before_run`` of the callbacks: the evaluation's
files, samplers and memory, the prediction's); then it installs the atomic checkpoint writer and the
preemption callback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from restart_lightning.memory import device_memory
from restart_lightning.reliability.checkpoint_io import AtomicCheckpointIO, remove_stale_temporaries
from restart_lightning.reliability.errors import CheckpointError, ConfigError, one_line
from restart_lightning.reliability.model_checks import check_model_fits_data
from restart_lightning.reliability.output_checks import check_outputs
from restart_lightning.reliability.preemption import PreemptionCheckpoint
from restart_lightning.reliability.resume import experiment_directories, find_last_checkpoint
from restart_lightning.reliability.safe_load import (
    check_hyperparameters,
    check_state_dict_matches,
    load_checkpoint_file,
)
from restart_lightning.reliability.trainer_checks import check_seed, check_trainer_settings

SPECIAL_CKPT_PATHS = ("best", "hpc", "registry")


def _say(message: str) -> None:
    if rank_zero_only.rank == 0:
        print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ before parsing
def check_config_files(args: list[str]) -> None:
    """Every ``--config``/``-c`` file exists and is a YAML mapping (the error names the file and line)."""
    for i, arg in enumerate(args):
        key, has_value, value = arg.partition("=")
        if key not in ("--config", "-c"):
            continue
        if not has_value:
            if i + 1 >= len(args):
                return  # the parser reports the missing value
            value = args[i + 1]
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"--config: no file at '{value}'")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or one_line(error)
            raise ConfigError(f"--config {value}: not valid YAML{where}: {problem}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"--config {value}: cannot be read ({one_line(error)})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"--config {value}: expected a YAML mapping of settings, got a {type(loaded).__name__}")


# ------------------------------------------------------------------ right after parsing
def resolve_ckpt_path(cli) -> None:
    """Turn ``--ckpt_path last`` into a file and refuse unreadable or foreign checkpoints early."""
    subcommand = cli.config.get("subcommand")
    if not subcommand:
        return
    config = cli.config[subcommand]
    check_trainer_settings(config.get("trainer"))
    check_seed(config.get("seed_everything"))
    ckpt_path = config.get("ckpt_path")
    if ckpt_path is None:
        return
    if ckpt_path == "last":
        found = find_last_checkpoint(config.get("trainer"), config.get("checkpoint"))
        where = ", ".join(str(d) for d in experiment_directories(config.get("trainer"))) or "the checkpoint directory"
        if found is None:
            if subcommand == "fit":
                _say(f"--ckpt_path last: no checkpoint under {where} yet; starting a new run")
                config["ckpt_path"] = None
                return
            raise CheckpointError(f"ckpt_path: 'last' found no checkpoint under {where}; give the checkpoint file")
        config["ckpt_path"] = ckpt_path = str(found)
    if str(ckpt_path) in SPECIAL_CKPT_PATHS or "://" in str(ckpt_path):
        return
    checkpoint = load_checkpoint_file(ckpt_path, mmap=True)
    model_config = config.get("model")
    check_hyperparameters(checkpoint, _selected_model_class(model_config, cli.model_class), ckpt_path)
    if subcommand == "fit":
        _check_resumable(checkpoint, ckpt_path)
        for removed in remove_stale_temporaries(Path(ckpt_path).parent):
            _say(f"note: removed {removed}, left by a checkpoint write that was killed midway")
    cli._reliability_checkpoint = (ckpt_path, checkpoint)
    verb = "resuming from" if subcommand == "fit" else "loading"
    _say(f"{verb} {ckpt_path} (step {checkpoint.get('global_step')})")
    init_args = model_config.get("init_args", model_config) if model_config is not None else None
    _note_replaced_model_settings(init_args, checkpoint.get("hyper_parameters") or {})


def _selected_model_class(model_config: Any, default: type | None) -> type:
    """The LightningModule class the config selects (``model.class_path`` in subclass mode), else ``default``."""
    class_path = model_config.get("class_path") if model_config is not None else None
    if isinstance(class_path, str) and "." in class_path:
        import importlib

        module_name, _, name = class_path.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            pass  # the parser reports a bad class_path
    return default or object


def _plain(value: Any) -> Any:
    """A comparable plain-Python form of a config value (Namespaces become dicts, tuples lists)."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _note_replaced_model_settings(model_config: Any, hparams: dict[str, Any]) -> None:
    """LightningCLI rebuilds the model from the checkpoint's hyperparameters: say which given values lose."""
    if model_config is None:
        return
    replaced = []
    for key, saved in hparams.items():
        if key.startswith("_") or key not in model_config:
            continue
        given, saved = _plain(model_config[key]), _plain(saved)
        if isinstance(given, dict) and isinstance(saved, dict):
            given = {k: v for k, v in given.items() if k in saved}
        if given != saved:
            replaced.append(f"model.{key} {given!r} -> {saved!r}" if not isinstance(saved, dict) else f"model.{key}")
    if replaced:
        _say(f"note: the model is rebuilt with the checkpoint's settings, replacing the given {'; '.join(replaced)}")


def _check_resumable(checkpoint: dict[str, Any], path: Any) -> None:
    """``fit`` continues a run: the checkpoint must hold the optimizer and loop states, not weights only."""
    missing = [key for key in ("optimizer_states", "loops") if not checkpoint.get(key)]
    if missing:
        raise CheckpointError(
            f"ckpt_path: '{path}' holds no {' and no '.join(missing)} (written with save_weights_only?), so fit "
            "cannot resume from it; use it with test, validate or predict, or start a new run without --ckpt_path"
        )


# ------------------------------------------------------------------ after instantiation
def prepare_run(cli) -> None:
    """Checks and installations that need the built trainer, model and data (see module docstring)."""
    trainer, subcommand = cli.trainer, cli.subcommand
    if subcommand is None:
        return
    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()
    if subcommand == "fit" and not any(isinstance(c, PreemptionCheckpoint) for c in trainer.callbacks):
        trainer.callbacks.append(PreemptionCheckpoint())
    config = cli.config[subcommand]
    if trainer.is_global_zero:
        check_outputs(cli, config)
    loaded = getattr(cli, "_reliability_checkpoint", None)
    if loaded is not None:
        check_state_dict_matches(loaded[1], cli.model, loaded[0])
        cli._reliability_checkpoint = None
    check_data = getattr(cli.datamodule, "check_data", None)
    if callable(check_data) and subcommand != "predict":  # bad data files, named before the logger writes
        check_data()
    model_check = getattr(cli.model, "check_data", None)  # models that bring their own check (adapters): first,
    if callable(model_check) and cli.datamodule is not None:  # they name the problem best
        model_check(cli.datamodule)
    limit = device_memory(strategy.root_device)
    half = str(getattr(trainer.precision_plugin, "precision", "32")).startswith(("16", "bf16"))
    check_model_fits_data(cli.model, cli.datamodule, subcommand, limit, half)
    if cli.datamodule is not None and hasattr(cli.datamodule, "data_shape"):
        for callback in trainer.callbacks:  # each checks its own settings against the model and the data
            check = getattr(callback, "check_before_run", None)
            if callable(check):
                check(cli.model, cli.datamodule, subcommand, limit)
