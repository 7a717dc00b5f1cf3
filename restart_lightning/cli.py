"""The command line: LightningCLI with this project's defaults and arguments.

``restart-lightning {fit,validate,test,predict,diagnose,tune} --config <experiment>.yaml`` (or ``python -m
restart_lightning`` / ``python main.py`` in the repository). What this adds to LightningCLI, each
in its own module:
- ``--config NAME`` finds the packaged configs from any directory (``config_files``);
- ``--sampler`` (``sampler_args``) and ``--num_threads`` (``threads``), typed arguments of every
  subcommand, saved in the run's ``config.yaml``;
- the ``checkpoint`` group (ModelCheckpoint; ``last.ckpt`` always kept; ``run_outputs``) and
  ``trainer.default_root_dir`` deciding where runs go (``run_outputs``);
- checks before anything is written (``reliability``, ``cli_checks``) and quiet output (``quiet``);
- ``diagnose`` (``tuning``): where a checkpoint's error lives, a method of the trainer class ``TuningTrainer``;
- ``tune`` (``TuningTrainer.tune``, ``tuning``): sampler presets searched per NFE budget.

Subclasses and other subcommands: override ``subcommands()`` and add arguments in
``add_arguments_to_parser`` (call super first); every subcommand parser gets the same arguments.
"""

from __future__ import annotations

import sys
import warnings

from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from restart_lightning.adapters.evaluation_module import refuse_training
from restart_lightning.cli_checks import note_other_data, stop_if_finished
from restart_lightning.config_files import resolve_config_args
from restart_lightning.module import DiffusionModule
from restart_lightning.precision import resolve_precision
from restart_lightning.quiet import quiet_harmless_warnings
from restart_lightning.reliability import (
    OneLineErrorParser,
    check_config_files,
    prepare_run,
    reported_errors,
    resolve_ckpt_path,
)
from restart_lightning.run_outputs import apply_default_root_dir, checkpoints_for
from restart_lightning.sampler_args import (
    SAMPLER_KEY,
    add_sampler_argument,
    build_cli_samplers,
    inline_sampler_presets,
    rewrite_sampler_args,
)
from restart_lightning.threads import add_threads_argument, apply_threads, check_threads
from restart_lightning.tuning.trainer import TUNING_SUBCOMMANDS, TuningTrainer

# Subcommands whose results table is the evaluation callback's (Lightning's would repeat its numbers).
OWN_RESULTS_TABLE = ("validate", "test")


class RestartParser(OneLineErrorParser):
    """The CLI's parser: one-line errors, and ``verbose: false`` as the default of ``validate``/``test``
    (the sampler evaluation prints one table of every sampler's results; ``--verbose true`` adds Lightning's)."""

    def add_method_arguments(self, theclass, themethod, *args, **kwargs):
        added = super().add_method_arguments(theclass, themethod, *args, **kwargs)
        if themethod in OWN_RESULTS_TABLE and "verbose" in added:
            self.set_defaults(verbose=False)
        return added


class RestartCLI(LightningCLI):
    """``restart-lightning {fit,validate,test,predict,diagnose,tune} --config <experiment>.yaml``."""

    def __init__(self, *args, **kwargs) -> None:
        argv = list(sys.argv[1:] if kwargs.get("args") is None else kwargs["args"])
        argv, self.config_files = resolve_config_args(argv)  # --config toy.yaml from any directory
        check_config_files(argv)  # a missing or malformed YAML file, named, before parsing
        self.argv = kwargs["args"] = rewrite_sampler_args(argv)  # the --sampler shorthand -> one argument
        kwargs.setdefault("subclass_mode_data", True)
        # Any LightningModule by class_path (e.g. restart_lightning.adapters.DiffusersModule); a config
        # without one means DiffusionModule (the default set in add_arguments_to_parser).
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("save_config_kwargs", {"overwrite": False})
        kwargs.setdefault("parser_class", RestartParser)
        kwargs.setdefault("trainer_class", TuningTrainer)  # fit/validate/test/predict and the tuning subcommands
        quiet_harmless_warnings()
        super().__init__(LightningModule, *args, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """Lightning's four and the tuning subcommands (``diagnose``, ``tune``), methods of ``TuningTrainer``."""
        return {**LightningCLI.subcommands(), **TUNING_SUBCOMMANDS}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        add_sampler_argument(parser)
        add_threads_argument(parser)
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.filename": "step{step:07d}",
                "checkpoint.auto_insert_metric_name": False,
                "model": {"class_path": f"{DiffusionModule.__module__}.{DiffusionModule.__name__}"},
                "trainer.logger": {
                    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": "logs", "name": "default", "default_hp_metric": False},
                },
            }
        )

    @property
    def run_config(self):
        """The parsed configuration of the subcommand being run."""
        return self.config[self.config["subcommand"]] if self.config.get("subcommand") else self.config

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        with warnings.catch_warnings():  # __init__ always passes the (rewritten) argv as args
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
            super().parse_arguments(parser, args)
        config = self.run_config
        apply_default_root_dir(config.trainer, self.argv)
        check_threads(config.get("num_threads", "auto"))
        # Built now, so a bad sampler name or option fails before anything is instantiated.
        self.cli_samplers = build_cli_samplers(config.get(SAMPLER_KEY))
        if self.config.get("subcommand") == "tune":  # tune's own arguments, before any model is loaded
            from restart_lightning.tuning.trainer import check_tune_arguments

            check_tune_arguments(config)
        resolve_ckpt_path(self)  # --ckpt_path last -> a file; unreadable or foreign files refused here
        loaded = getattr(self, "_reliability_checkpoint", None)
        if loaded is not None:
            stop_if_finished(self.config["subcommand"], config, loaded[1], loaded[0])
            note_other_data(config, loaded[1], loaded[0])

    def before_instantiate_classes(self) -> None:
        config = self.run_config
        quiet_harmless_warnings(self.subcommand)
        refuse_training(self.subcommand, config.get("model"))  # evaluation-only models: before they load
        resolve_precision(config.trainer)  # bf16-mixed in a config means float32 on the CPU
        inline_sampler_presets(config, [path.parent for path in self.config_files])

    def after_instantiate_classes(self) -> None:
        prepare_run(self)  # early checks, atomic checkpoint writes, save on SIGTERM/SIGUSR1
        apply_threads(self.run_config.get("num_threads", "auto"), self.trainer, self.model)

    def instantiate_trainer(self, **kwargs):
        trainer = super().instantiate_trainer(**kwargs)
        self._split_monitored_checkpoint(trainer)
        if self.subcommand == "predict":
            from restart_lightning.callbacks import PredictionWriter

            if not any(isinstance(c, PredictionWriter) for c in trainer.callbacks):
                trainer.callbacks.append(PredictionWriter())
        if self.cli_samplers:
            self._use_cli_samplers(trainer)
        return trainer

    def _split_monitored_checkpoint(self, trainer) -> None:
        checkpoint = self._get(self.config_init, "checkpoint")
        if checkpoint not in trainer.callbacks:
            return
        replacement = checkpoints_for(checkpoint, self.run_config.checkpoint.as_dict())
        if replacement != [checkpoint]:
            at = trainer.callbacks.index(checkpoint)
            trainer.callbacks[at:at + 1] = replacement

    def _use_cli_samplers(self, trainer) -> None:
        from restart_lightning.callbacks import SamplerEvaluation

        evaluations = [c for c in trainer.callbacks if isinstance(c, SamplerEvaluation)]
        if not evaluations and self.subcommand != "predict":
            evaluations = [SamplerEvaluation()]
            trainer.callbacks.append(evaluations[0])
        for evaluation in evaluations:
            evaluation.replace_samplers(self.cli_samplers)
        if hasattr(self.model, "predict_sampler"):
            self.model.predict_sampler = self.cli_samplers[0].sampler

    def before_predict(self) -> None:
        sampler = getattr(self.model, "predict_sampler", None)
        if sampler is not None and self.trainer.is_global_zero:
            label = self.cli_samplers[0].label if self.cli_samplers else "model.predict_sampler"
            extra = f" (the first of {len(self.cli_samplers)} --sampler entries)" if len(self.cli_samplers) > 1 else ""
            denoiser = getattr(self.model, "denoiser", None)
            print(f"predict sampler {label}{extra}: {sampler.plan(denoiser).summary()}", flush=True)


def main(args=None) -> None:
    """Run the CLI; user errors end as one ``error: ...`` line and exit code 2 (see reliability.errors)."""
    with reported_errors():
        RestartCLI(args=args)
