"""Writing all samples of an evaluation: one shard per process, merged by rank 0 in seed order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from restart_lightning.evaluation.pictures import density_comparison, image_grid
from restart_lightning.pixels import from_uint8, to_uint8


class SampleWriter:
    """Collects a process's samples; ``finish`` writes ``samples.npz`` (+ a PNG) once for all.

    ``samples.npz`` holds ``samples`` (uint8 [N, C, H, W] for images, float32 [N, d] for
    points) and ``seeds`` [N], sorted by seed; the PNG is ``grid.png`` (first 64 images) or
    ``density.png`` (2-D samples beside the data).
    """

    def __init__(self, directory: Path, trainer) -> None:
        self.directory, self.trainer = Path(directory), trainer
        self.seeds: list[int] = []
        self.chunks: list[np.ndarray] = []

    def add(self, seeds: list[int], samples: Tensor) -> None:
        self.seeds.extend(seeds)
        as_images = samples.ndim == 4
        self.chunks.append((to_uint8(samples) if as_images else samples.float()).cpu().numpy())

    def finish(self, reference: Tensor | None) -> Path:
        rank, strategy = self.trainer.global_rank, self.trainer.strategy
        self.directory.mkdir(parents=True, exist_ok=True)
        shard = self.directory / f"part-{rank:05d}.npz"
        np.savez(shard, seeds=np.asarray(self.seeds, dtype=np.int64), samples=self._stacked())
        strategy.barrier()
        target = self.directory / "samples.npz"
        if rank == 0:
            parts = sorted(self.directory.glob("part-*.npz"))
            loaded = [np.load(p, allow_pickle=False) for p in parts]
            seeds = np.concatenate([p["seeds"] for p in loaded])
            samples = np.concatenate([p["samples"] for p in loaded])
            order = np.argsort(seeds, kind="stable")
            np.savez(target, seeds=seeds[order], samples=samples[order])
            for p in parts:
                p.unlink()
            self._write_picture(samples[order], reference)
        strategy.barrier()
        return target

    def _stacked(self) -> np.ndarray:
        if self.chunks:
            return np.concatenate(self.chunks)
        return np.zeros((0,), dtype=np.float32)

    def _write_picture(self, samples: np.ndarray, reference: Tensor | None) -> None:
        if samples.ndim == 4:
            grid = image_grid(from_uint8(torch.from_numpy(samples[:64])))
            Image.fromarray(grid.permute(1, 2, 0).squeeze(-1).numpy()).save(self.directory / "grid.png")
        elif reference is not None and samples.ndim == 2 and samples.shape[1] == 2:
            picture = density_comparison(torch.from_numpy(samples), reference)
            Image.fromarray(picture[0].numpy()).save(self.directory / "density.png")
