"""Checks of a run against the checkpoint it starts from, made before anything is built or written.

- ``fit`` from a checkpoint of a run that already reached ``max_steps`` (or ``max_epochs``) would
  do nothing and leave an empty run directory: it says so and ends (exit code 0) instead.
- A checkpoint trained on other data than the config's (e.g. the ``ring`` instead of the ``grid``
  toy distribution) is named in one ``note:`` line; the config's data is what is then used.
"""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only

from restart_lightning.reliability.checkpoint_checks import plain_config

# Datamodule settings that change how the data is loaded, not what the data is.
LOADING_SETTINGS = {
    "batch_size", "num_workers", "steps_per_epoch", "num_predict_samples", "num_val_samples", "seed",
    "pin_memory", "persistent_workers", "prefetch_factor", "download", "root",
}


def _say(message: str) -> None:
    if rank_zero_only.rank == 0:
        print(message, file=sys.stderr, flush=True)


def finished_run_message(trainer_config: Any, checkpoint: dict[str, Any], ckpt_path: str) -> str | None:
    """Why ``fit`` from ``checkpoint`` has nothing left to do, or None."""
    max_steps = trainer_config.get("max_steps")
    step = int(checkpoint.get("global_step") or 0)
    if max_steps not in (None, -1) and step >= max_steps:
        return (f"{ckpt_path} is at step {step}, which is trainer.max_steps ({max_steps}): the run is finished and "
                "nothing was written; raise --trainer.max_steps to train longer")
    max_epochs = trainer_config.get("max_epochs")
    if max_steps in (None, -1) and max_epochs not in (None, -1):
        progress = (checkpoint.get("loops") or {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
        epochs = progress.get("completed", checkpoint.get("epoch", 0))
        if epochs >= max_epochs:
            return (f"{ckpt_path} has completed {epochs} epochs, which is trainer.max_epochs ({max_epochs}): the run "
                    "is finished and nothing was written; raise --trainer.max_epochs to train longer")
    return None


def stop_if_finished(subcommand: str, config: Any, checkpoint: dict[str, Any] | None, ckpt_path: str) -> None:
    if subcommand != "fit" or checkpoint is None:
        return
    message = finished_run_message(config.get("trainer") or {}, checkpoint, ckpt_path)
    if message is not None:
        _say(message)
        raise SystemExit(0)


def other_data_settings(data_config: Any, saved: dict[str, Any] | None) -> list[str]:
    """``data.<key> <checkpoint's> -> <config's>`` for every data setting that differs from the checkpoint's."""
    if not saved or data_config is None:
        return []
    config = plain_config(data_config)
    given_class = config.get("class_path")
    saved_class = saved.get("_class_path")
    if given_class and saved_class and given_class != saved_class:
        return [f"data {saved_class} -> {given_class}"]
    given = config.get("init_args", config) if isinstance(config, dict) else {}
    differences = []
    for key, value in plain_config(saved).items():
        if key in LOADING_SETTINGS or key not in given:
            continue
        if given[key] != value:
            differences.append(f"data.{key} {value!r} -> {given[key]!r}")
    return differences


def note_other_data(config: Any, checkpoint: dict[str, Any] | None, ckpt_path: str) -> None:
    if checkpoint is None:
        return
    differences = other_data_settings(config.get("data"), checkpoint.get("datamodule_hyper_parameters"))
    if differences:
        _say(f"note: {ckpt_path} was trained on other data ({'; '.join(differences)}, checkpoint -> config); "
             "the config's data is used")
