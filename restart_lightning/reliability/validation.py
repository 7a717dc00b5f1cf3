"""Checks run when the command starts, before any file is written or any expensive work is done.

``resolve_ckpt_path`` runs right after parsing (``--ckpt_path last`` becomes a file; a bad file is
refused in one line before Lightning reads its hyperparameters); ``prepare_run`` runs after the
model, data and trainer are built: it refuses a run that would write into an earlier run's
directory, a checkpoint that does not fit the model, settings that cannot work (devices,
evaluation files, a network that does not accept the data), and installs the atomic checkpoint
writer and the preemption callback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from restart_lightning.reliability.checkpoint_io import AtomicCheckpointIO
from restart_lightning.reliability.errors import CheckpointError, ConfigError, one_line
from restart_lightning.reliability.preemption import PreemptionCheckpoint
from restart_lightning.reliability.resume import experiment_directories, find_last_checkpoint
from restart_lightning.reliability.safe_load import (
    check_hyperparameters,
    check_state_dict_matches,
    load_checkpoint_file,
)

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
    _check_devices(config.get("trainer"))
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


def _check_devices(trainer_config: Any) -> None:
    if trainer_config is None:
        return
    devices = trainer_config.get("devices")
    if not _devices_valid(devices):
        raise ConfigError(
            f"trainer.devices: invalid value {devices!r}; allowed values: 'auto', -1 (all), a number of "
            "devices >= 1, or a list of device indices such as [0, 1]"
        )
    num_nodes = trainer_config.get("num_nodes")
    if isinstance(num_nodes, int) and num_nodes < 1:
        raise ConfigError(f"trainer.num_nodes: invalid value {num_nodes}; allowed values: an integer >= 1")


def _devices_valid(devices: Any) -> bool:
    if devices is None or devices == "auto":
        return True
    if isinstance(devices, bool):
        return False
    if isinstance(devices, int):
        return devices == -1 or devices >= 1
    if isinstance(devices, (list, tuple)):
        return bool(devices) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices)
    if isinstance(devices, str):
        text = devices.strip()
        if "," in text:
            items = [d.strip() for d in text.split(",") if d.strip()]
            return bool(items) and all(d.isdigit() for d in items)
        try:
            return _devices_valid(int(text))
        except ValueError:
            return False
    return False


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
        _check_output_directories(cli, config)
    loaded = getattr(cli, "_reliability_checkpoint", None)
    if loaded is not None:
        check_state_dict_matches(loaded[1], cli.model, loaded[0])
        cli._reliability_checkpoint = None
    _check_evaluation_files(trainer)
    _check_network_accepts_data(cli.model, cli.datamodule)
    check_data = getattr(cli.model, "check_data", None)  # models that bring their own check (adapters)
    if callable(check_data) and cli.datamodule is not None:
        check_data(cli.datamodule)


def _check_output_directories(cli, config) -> None:
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


def _check_evaluation_files(trainer) -> None:
    from restart_lightning.evaluation.metric_suite import FEATURE_EXTRACTORS

    for callback in trainer.callbacks:
        extractor = getattr(callback, "feature_extractor", None)
        if isinstance(extractor, str) and extractor not in FEATURE_EXTRACTORS:
            raise ConfigError(
                f"{type(callback).__name__}.feature_extractor: invalid value {extractor!r}; "
                f"allowed values: {', '.join(FEATURE_EXTRACTORS)} or an nn.Module"
            )
        weights = getattr(callback, "inception_weights", None)
        if isinstance(weights, (str, Path)) and not Path(weights).is_file():
            raise ConfigError(
                f"{type(callback).__name__}.inception_weights: no file at '{weights}'; give the path of the "
                "Inception-v3 weights (pt_inception-2015-12-05) or leave it unset"
            )
        stats = getattr(callback, "reference_stats", None)
        if isinstance(stats, (str, Path)) and str(stats) != "auto" and Path(stats).exists():
            from restart_lightning.metrics.reference import load_reference_stats

            try:
                load_reference_stats(stats)
            except (ValueError, OSError, KeyError) as error:
                raise ConfigError(f"{type(callback).__name__}.reference_stats: {one_line(error)}") from None


def _check_network_accepts_data(model, datamodule) -> None:
    """One forward pass of the denoiser on one zero sample of the data's shape, on the CPU, in eval mode.

    Catches a network built for another data shape (``dim``, resolution, channels) before reference
    statistics are computed or training starts. Eval mode draws no random numbers (no dropout).
    """
    if datamodule is None or not hasattr(model, "model"):
        return
    try:
        shape = tuple(int(s) for s in datamodule.data_shape)
        num_classes = int(getattr(datamodule, "num_classes", 0) or 0)
    except Exception:  # the datamodule only knows its shape after setup: nothing to check here
        return
    x = torch.zeros(1, *shape)
    sigma = torch.ones(1)
    labels = torch.zeros(1, dtype=torch.long) if num_classes > 0 else None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.model(x, sigma, labels)
    except Exception as error:
        raise ConfigError(
            f"model.net does not accept the data: samples of shape {list(shape)} from {type(datamodule).__name__} "
            f"fail in {type(model.model.net).__name__} ({type(error).__name__}: {one_line(error)[:200]})"
        ) from None
    finally:
        model.train(was_training)
    if tuple(out.shape) != tuple(x.shape):
        raise ConfigError(
            f"model.net does not fit the data: it maps samples of shape {list(shape)} to {list(out.shape[1:])}"
        )
