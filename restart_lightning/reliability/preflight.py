"""The pre-flight step: after the model, data and trainer are built and before anything is written.

Where the run writes (``output_checks``), a checkpoint that does not fit the model, the data's
own files, an adapter's own check of the data, the network against the data (``model_checks``),
then every callback's check of its own settings (``check_before_run``: the evaluation's files,
samplers and memory, the prediction's); then it installs the atomic checkpoint writer and the
preemption callback.
"""

from __future__ import annotations

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from restart_lightning.memory import device_memory
from restart_lightning.reliability.checkpoint_io import AtomicCheckpointIO
from restart_lightning.reliability.model_checks import check_model_fits_data
from restart_lightning.reliability.output_checks import check_outputs
from restart_lightning.reliability.preemption import PreemptionCheckpoint
from restart_lightning.reliability.safe_load import check_state_dict_matches


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
