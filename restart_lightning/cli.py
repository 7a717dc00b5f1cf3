"""The command line: LightningCLI with this project's defaults (TensorBoard, last.ckpt)."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from restart_lightning.module import DiffusionModule


class RestartCLI(LightningCLI):
    """``python main.py {fit,validate,test,predict} --config configs/<experiment>.yaml``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("save_config_kwargs", {"overwrite": False})
        super().__init__(DiffusionModule, *args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.filename": "step{step:07d}",
                "checkpoint.auto_insert_metric_name": False,
                "trainer.logger": {
                    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": "logs", "name": "default"},
                },
            }
        )


def main(args=None) -> None:
    RestartCLI(args=args)
