"""The sampling progress bar: drawn by the trainer's progress bar library, on rank zero, with the sampler's
label, the samples done and the NFE of the current batch."""

import lightning.pytorch as pl
import pytest
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

import restart_lightning.callbacks.progress as progress
from restart_lightning.callbacks import SamplerEvaluation
from restart_lightning.data import ToyDataModule
from restart_lightning.module import DiffusionModule
from restart_lightning.networks import MLP


class RecordingTqdm:
    bars = []

    def __init__(self, **kwargs):
        self.kwargs, self.n, self.descriptions, self.closed = kwargs, 0, [kwargs["desc"]], False
        RecordingTqdm.bars.append(self)

    def set_description(self, text, refresh=True):
        self.descriptions.append(text)

    def update(self, n):
        self.n += n

    def close(self):
        self.closed = True


def run_test(tmp_path, bar):
    module = DiffusionModule(MLP(width=8, depth=1), sigma_data=1.4)
    evaluation = SamplerEvaluation({"heun": {"name": "heun", "num_steps": 3}}, num_samples=10, batch_size=4,
                                   num_reference_samples=64)
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[evaluation, bar], enable_model_summary=False,
                         default_root_dir=tmp_path)
    trainer.test(module, ToyDataModule(num_val_samples=8), verbose=False)


def test_tqdm_bar_counts_samples_and_nfe(tmp_path, monkeypatch):
    RecordingTqdm.bars = []
    monkeypatch.setattr(progress, "Tqdm", RecordingTqdm)
    run_test(tmp_path, TQDMProgressBar())
    [bar] = RecordingTqdm.bars
    assert bar.kwargs["total"] == 10 and bar.n == 10 and bar.closed  # batches of 4, 4 and 2 samples
    assert bar.descriptions[0] == "sampling heun (NFE 0/5)"
    assert "sampling heun (NFE 3/5)" in bar.descriptions and bar.descriptions[-1] == "sampling heun (NFE 5/5)"


def test_rich_bar_gets_a_task(tmp_path, monkeypatch):
    pytest.importorskip("rich")
    tasks = []
    original = progress.SamplingProgress.__init__

    def record(self, trainer, label, nfe, total):
        original(self, trainer, label, nfe, total)
        tasks.append((self._rich is not None, total))

    monkeypatch.setattr(progress.SamplingProgress, "__init__", record)
    run_test(tmp_path, RichProgressBar())
    assert tasks == [(True, 10)]


def test_no_bar_without_a_progress_bar(tmp_path, monkeypatch):
    RecordingTqdm.bars = []
    monkeypatch.setattr(progress, "Tqdm", RecordingTqdm)
    module = DiffusionModule(MLP(width=8, depth=1), sigma_data=1.4)
    evaluation = SamplerEvaluation({"heun": "heun"}, num_samples=4, num_reference_samples=64)
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[evaluation], enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.test(module, ToyDataModule(num_val_samples=8), verbose=False)
    assert RecordingTqdm.bars == []


def test_say_prints_under_a_tqdm_bar_even_when_no_bar_is_showing(capsys):
    """Outside a loop (diagnose, or before a loop's bar exists) TQDMProgressBar.print writes nothing."""
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[TQDMProgressBar()], enable_model_summary=False)
    progress.say(trainer, "a line outside every loop")
    assert "a line outside every loop" in capsys.readouterr().out

