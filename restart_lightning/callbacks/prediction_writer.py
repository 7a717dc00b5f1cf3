"""Writes the samples of ``main.py predict`` to ``<log_dir>/predict/samples.npz`` (+ a picture)."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import BasePredictionWriter

from restart_lightning.evaluation.export import SampleWriter


class PredictionWriter(BasePredictionWriter):
    """Every process writes its share; rank 0 merges them in seed order (see ``SampleWriter``)."""

    def __init__(self, subdirectory: str = "predict") -> None:
        super().__init__(write_interval="epoch")
        self.subdirectory = subdirectory

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        directory = Path(trainer.log_dir or trainer.default_root_dir) / self.subdirectory
        writer = SampleWriter(directory, trainer)
        dataset = trainer.predict_dataloaders.dataset
        for samples, indices in zip(predictions, batch_indices[0] if batch_indices else []):
            writer.add([int(dataset[i]) for i in indices], samples)
        reference = getattr(trainer.datamodule, "reference_samples", None)
        low_dimensional = bool(predictions) and predictions[0].ndim == 2
        picture_reference = reference(10_000) if reference is not None and low_dimensional else None
        path = writer.finish(picture_reference)
        if trainer.is_global_zero:
            print(f"wrote {path}", flush=True)
