"""LightningDataModule of the 2-D toy distributions: fresh points every step, from a seed."""

from __future__ import annotations

from typing import Literal

import lightning.pytorch as pl
import torch
from torch import Tensor

from restart_lightning.data.toy import TOY_DISTRIBUTIONS, GaussianMixture, make_mixture, sample_toy


def _batch_generator(seed: int, stream: int, index: int) -> torch.Generator:
    """A generator for batch ``index`` of ``stream``: batches are pure functions of their position."""
    return torch.Generator().manual_seed(hash((seed, stream, index)) & 0x7FFF_FFFF_FFFF_FFFF)


class ToyBatchStream:
    """An endless supply of training batches, ``steps_per_epoch`` per epoch, that can resume.

    Batch n of rank r is drawn from a generator seeded by (seed, r, n), so a run resumed from
    a checkpoint sees exactly the batches that the uninterrupted run would have seen. The
    position counts batches *consumed* by training (``mark_consumed``), not batches fetched,
    because Lightning pre-fetches one batch ahead.
    """

    def __init__(self, name: str, batch_size: int, steps_per_epoch: int, seed: int, rank: int = 0) -> None:
        self.name, self.batch_size, self.steps_per_epoch = name, batch_size, steps_per_epoch
        self.seed, self.rank = seed, rank
        self.consumed = 0

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self):
        start = self.consumed
        for index in range(start, start + self.steps_per_epoch):
            generator = _batch_generator(self.seed, self.rank, index)
            yield sample_toy(self.name, self.batch_size, generator).float()

    def mark_consumed(self) -> None:
        self.consumed += 1

    def state_dict(self) -> dict:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict) -> None:
        self.consumed = int(state["consumed"])


class ToyDataModule(pl.LightningDataModule):
    """2-D toy data generated on the fly (no download).

    Args:
        name: which distribution: grid (5x5 Gaussian mixture), ring (8 Gaussians on a
            circle), moons or checkerboard.
        batch_size: training batch size per process.
        steps_per_epoch: training batches per epoch (the data is endless).
        num_val_samples: size of the fixed held-out set for the validation loss.
        seed: seeds every batch (and the held-out set).
    """

    def __init__(
        self,
        name: Literal["grid", "ring", "moons", "checkerboard"] = "grid",
        batch_size: int = 512,
        steps_per_epoch: int = 200,
        num_val_samples: int = 4096,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if name not in TOY_DISTRIBUTIONS:
            raise ValueError(f"data.name: unknown toy distribution {name!r}; allowed values: {', '.join(TOY_DISTRIBUTIONS)}")
        for field, value in (("batch_size", batch_size), ("steps_per_epoch", steps_per_epoch), ("num_val_samples", num_val_samples)):
            if value < 1:
                raise ValueError(f"data.{field} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.name, self.batch_size, self.seed = name, batch_size, seed
        self.steps_per_epoch, self.num_val_samples = steps_per_epoch, num_val_samples
        self._train_stream: ToyBatchStream | None = None

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def num_classes(self) -> int:
        return 0

    @property
    def mixture(self) -> GaussianMixture | None:
        """The exact Gaussian mixture (log-density, denoiser) where the data is one."""
        return make_mixture(self.name)

    def reference_samples(self, n: int, seed: int = 1) -> Tensor:
        """n real points, independent of the training stream, for metrics."""
        return sample_toy(self.name, n, _batch_generator(self.seed, -1 - seed, 0)).float()

    def train_dataloader(self) -> ToyBatchStream:
        if self._train_stream is None:
            rank = self.trainer.global_rank if self.trainer is not None else 0
            self._train_stream = ToyBatchStream(self.name, self.batch_size, self.steps_per_epoch, self.seed, rank)
        return self._train_stream

    def val_dataloader(self):
        points = self.reference_samples(self.num_val_samples, seed=0)
        return torch.utils.data.DataLoader(points, batch_size=self.batch_size)

    def test_dataloader(self):
        return self.val_dataloader()

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training and self._train_stream is not None:
            self._train_stream.mark_consumed()
        return batch
