"""Writes the samples of ``main.py predict`` to ``<log_dir>/predict/samples.npz`` (+ a picture)."""

from __future__ import annotations

import math
from pathlib import Path

from lightning.pytorch.callbacks import BasePredictionWriter

from restart_lightning.evaluation.export import SampleWriter
from restart_lightning.evaluation.generation import check_batch_memory, check_plan
from restart_lightning.memory import check_memory


class PredictionWriter(BasePredictionWriter):
    """Every process writes its share; rank 0 merges them in seed order (see ``SampleWriter``)."""

    def __init__(self, subdirectory: str = "predict") -> None:
        super().__init__(write_interval="epoch")
        self.subdirectory = subdirectory

    def check_before_run(self, model, datamodule, subcommand: str, device_limit: int | None = None) -> None:
        """What ``predict`` will hold and run, called by the pre-flight step: the predicted samples in
        memory, the sampler's batch, and ``model.predict_sampler``'s plan on the model's sigma range."""
        if subcommand != "predict":
            return
        shape = tuple(int(s) for s in datamodule.data_shape)
        size = math.prod(shape)
        count = getattr(datamodule, "num_predict_samples", None)
        if isinstance(count, int):
            # Lightning keeps every prediction (float32), the writer its copy and rank 0 the merged file
            check_memory("data.num_predict_samples", count, 4 * size + 2 * (4 * size if len(shape) == 1 else size),
                         "the predicted samples, kept until they are written")
        batch = getattr(datamodule, "batch_size", None)
        if isinstance(batch, int):
            check_batch_memory("data.batch_size", batch, size, device_limit)
        sampler = getattr(model, "predict_sampler", None)
        if sampler is not None and getattr(model, "denoiser", None) is not None:
            check_plan("model.predict_sampler", sampler, model.denoiser)

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
