"""train/loss is logged only where read, and what is read is what logging every step gave."""

import csv

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger

from restart_lightning.data import ToyDataModule
from restart_lightning.module import DiffusionModule
from restart_lightning.networks import MLP


class EveryStep(DiffusionModule):
    def _loss_read_at(self, batch_idx: int) -> bool:
        return True


def run(cls, tmp_path, name):
    torch.manual_seed(0)
    module = cls(net=MLP(width=16, depth=1), sigma_data=1.4, lr=3e-3, ema_half_life=2000)
    trainer = pl.Trainer(max_steps=23, accelerator="cpu", logger=CSVLogger(tmp_path, name=name),
                         log_every_n_steps=5, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(module, ToyDataModule(name="grid", batch_size=64, steps_per_epoch=10))
    with open(tmp_path / name / "version_0" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss")]
    return {int(r["step"]): float(r["train/loss"]) for r in rows}, float(trainer.callback_metrics["train/loss"])


def test_logged_values_match_logging_every_step(tmp_path, one_thread):
    ours, ours_last = run(DiffusionModule, tmp_path, "ours")
    every, every_last = run(EveryStep, tmp_path, "every")
    assert ours == every and sorted(ours) == [4, 9, 14, 19]  # the logger's steps, the same values
    assert ours_last == every_last  # the last step's loss, as when logged every step


def test_loss_is_read_on_logger_steps_epoch_ends_and_the_last_step(tmp_path, one_thread):
    torch.manual_seed(0)
    module = DiffusionModule(net=MLP(width=16, depth=1), sigma_data=1.4, lr=3e-3, ema_half_life=2000)
    read = []
    original = module._loss_read_at

    def spy(batch_idx):
        answer = original(batch_idx)
        if answer:
            read.append(module.global_step)
        return answer

    module._loss_read_at = spy
    trainer = pl.Trainer(max_steps=23, accelerator="cpu", logger=CSVLogger(tmp_path), log_every_n_steps=5,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(module, ToyDataModule(name="grid", batch_size=64, steps_per_epoch=10))
    assert read == [4, 9, 14, 19, 22]  # logger steps (9 and 19 also end an epoch) and the fit's last step
