"""The training order of an image data set: reproducible per epoch, resumable at the exact batch.

``ResumableSampler`` is torch's ``DistributedSampler`` (a permutation seeded by ``seed + epoch``,
split between processes; Lightning keeps a DistributedSampler as it is, also under DDP) plus
- a position: the batches of this epoch that training has *consumed*, saved in checkpoints
  through ``ResumableDataLoader`` (Lightning saves and restores the state of stateful training
  loaders, as it does for the toy stream); a resumed run starts the epoch's permutation at the
  next unconsumed batch. Consumed, not fetched: Lightning pre-fetches one batch ahead, so a
  loader's own count (torchdata's ``StatefulDataLoader`` included) is one batch ahead of the
  training step a checkpoint was written at.
- the random horizontal flips: position p of an epoch is flipped by a draw from a generator
  seeded by (seed, epoch, rank), so augmentation is a pure function of the position as well and
  does not depend on the number of workers or on what else drew from torch's global generator.
The sampler then yields ``(index, flip)`` pairs, which the image datasets accept.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


class ResumableSampler(DistributedSampler):
    """Shuffled indices of epoch ``epoch`` from batch ``consumed`` on (see module docstring).

    Args:
        dataset: the training set (only its length is used).
        batch_size: the loader's batch size, to turn consumed batches into skipped samples.
        seed: seeds the permutation (``seed + epoch``) and the flips.
        num_replicas, rank: the process's share, as in DistributedSampler.
        random_flip: yield ``(index, flip)`` pairs instead of indices.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, num_replicas: int = 1, rank: int = 0,
                 random_flip: bool = False) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.batch_size, self.random_flip = batch_size, random_flip
        self.consumed = 0

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.consumed = 0  # a new epoch starts at its first batch; the same one (a resume) continues
        super().set_epoch(epoch)

    def __iter__(self) -> Iterator[int | tuple[int, bool]]:
        indices = list(super().__iter__())
        start = min(self.consumed * self.batch_size, len(indices))
        if not self.random_flip:
            yield from indices[start:]
            return
        generator = torch.Generator().manual_seed(hash((self.seed, self.epoch, self.rank)) & 0x7FFF_FFFF_FFFF_FFFF)
        flips = (torch.rand(len(indices), generator=generator) < 0.5).tolist()
        yield from zip(indices[start:], flips[start:], strict=True)

    def mark_consumed(self) -> None:
        """One more batch of this epoch went into a training step."""
        self.consumed += 1

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(self.epoch), "consumed": int(self.consumed)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])


class ResumableDataLoader(DataLoader):
    """A DataLoader whose ``state_dict`` is its ``ResumableSampler``'s position (Lightning checkpoints it)."""

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)
