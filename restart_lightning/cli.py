"""The command line: LightningCLI with this project's defaults (TensorBoard, last.ckpt)."""

from __future__ import annotations

import sys
import warnings

from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from restart_lightning.adapters.evaluation_module import refuse_training
from restart_lightning.module import DiffusionModule
from restart_lightning.precision import resolve_precision
from restart_lightning.reliability import (
    OneLineErrorParser,
    check_config_files,
    prepare_run,
    reported_errors,
    resolve_ckpt_path,
)
from restart_lightning.sampler_args import build_cli_samplers, split_sampler_args


class RestartCLI(LightningCLI):
    """``python main.py {fit,validate,test,predict} --config configs/<experiment>.yaml``."""

    def __init__(self, *args, **kwargs) -> None:
        argv = list(sys.argv[1:] if kwargs.get("args") is None else kwargs["args"])
        check_config_files(argv)  # a missing or malformed YAML file, named, before parsing
        kwargs["args"], sampler_specs = split_sampler_args(argv)
        # Built now, so a bad sampler name or option fails before anything is instantiated.
        self.cli_samplers = build_cli_samplers(sampler_specs) if sampler_specs else []
        kwargs.setdefault("subclass_mode_data", True)
        # Any LightningModule by class_path (e.g. restart_lightning.adapters.DiffusersModule); a config
        # without one means DiffusionModule (the default set in add_arguments_to_parser).
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("save_config_kwargs", {"overwrite": False})
        kwargs.setdefault("parser_class", OneLineErrorParser)
        super().__init__(LightningModule, *args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.filename": "step{step:07d}",
                "checkpoint.auto_insert_metric_name": False,
                "model": {"class_path": f"{DiffusionModule.__module__}.{DiffusionModule.__name__}"},
                "trainer.logger": {
                    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": "logs", "name": "default"},
                },
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        with warnings.catch_warnings():  # __init__ always passes the (sampler-stripped) argv as args
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
            super().parse_arguments(parser, args)
        resolve_ckpt_path(self)  # --ckpt_path last -> a file; unreadable or foreign files refused here

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        refuse_training(self.subcommand, config.get("model"))  # evaluation-only models: before they load
        resolve_precision(config.trainer)  # bf16-mixed in a config means float32 on the CPU

    def after_instantiate_classes(self) -> None:
        prepare_run(self)  # early checks, atomic checkpoint writes, save on SIGTERM/SIGUSR1

    def instantiate_trainer(self, **kwargs):
        trainer = super().instantiate_trainer(**kwargs)
        if self.subcommand == "predict":
            from restart_lightning.callbacks import PredictionWriter

            if not any(isinstance(c, PredictionWriter) for c in trainer.callbacks):
                trainer.callbacks.append(PredictionWriter())
        if self.cli_samplers:
            from restart_lightning.callbacks import SamplerEvaluation

            evaluations = [c for c in trainer.callbacks if isinstance(c, SamplerEvaluation)]
            if not evaluations:
                evaluations = [SamplerEvaluation()]
                trainer.callbacks.append(evaluations[0])
            for evaluation in evaluations:
                evaluation.replace_samplers(self.cli_samplers)
            self.model.predict_sampler = self.cli_samplers[0].sampler
        return trainer


def main(args=None) -> None:
    """Run the CLI; user errors end as one ``error: ...`` line and exit code 2 (see reliability.errors)."""
    with reported_errors():
        RestartCLI(args=args)
