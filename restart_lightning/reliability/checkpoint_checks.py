"""Right after parsing: Lightning's own settings, ``--ckpt_path``, and the checkpoint it names.

Lightning's settings are checked (``trainer_checks``); ``--ckpt_path last`` becomes a file; a bad
file (or, for ``fit``, one without optimizer state) is refused in one line before Lightning reads
its hyperparameters; temporary files of a checkpoint write killed midway are removed. The loaded
checkpoint is kept on the CLI object (``_reliability_checkpoint``) for the checks after the model
is built (``preflight``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only

from restart_lightning.reliability.checkpoint_io import remove_stale_temporaries
from restart_lightning.reliability.errors import CheckpointError
from restart_lightning.reliability.resume import experiment_directories, find_last_checkpoint
from restart_lightning.reliability.safe_load import check_hyperparameters, load_checkpoint_file
from restart_lightning.reliability.trainer_checks import check_seed, check_trainer_settings

SPECIAL_CKPT_PATHS = ("best", "hpc", "registry")


def _say(message: str) -> None:
    if rank_zero_only.rank == 0:
        print(message, file=sys.stderr, flush=True)


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


def plain_config(value: Any) -> Any:
    """A comparable plain-Python form of a config value (Namespaces become dicts, tuples lists)."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: plain_config(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [plain_config(v) for v in value]
    return value


def _note_replaced_model_settings(model_config: Any, hparams: dict[str, Any]) -> None:
    """LightningCLI rebuilds the model from the checkpoint's hyperparameters: say which given values lose."""
    if model_config is None:
        return
    replaced = []
    for key, saved in hparams.items():
        if key.startswith("_") or key not in model_config:
            continue
        given, saved = plain_config(model_config[key]), plain_config(saved)
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
