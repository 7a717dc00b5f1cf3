"""Generating the samples of one sampler for a list of global seeds, batch by batch.

The one loop shared by everything that evaluates a sampler (the evaluation callback, tuning,
benchmarks): sample i uses seed i for its latents, its noise and its class label, so a
sample does not depend on the batch size, the process or the order of the batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from restart_lightning.memory import check_memory
from restart_lightning.reliability.errors import ConfigError, one_line
from restart_lightning.sampling import Sampler
from restart_lightning.sampling.noise import draw_labels

SAMPLER_STATE_COPIES = 8  # float64 buffers a sampler holds per sample (x, denoised, derivatives, noise)


def check_plan(field: str, sampler: Sampler, denoiser: Any) -> None:
    """The sampler builds its plan on this denoiser's sigma range (a restart interval outside it fails
    before the run, not after the first training epoch)."""
    try:
        sampler.plan(denoiser)
    except ValueError as error:
        raise ConfigError(f"{field}: {one_line(error)} (on this model's sigma range)") from None


def check_batch_memory(field: str, batch: int, size: int, device_limit: int | None) -> None:
    """A batch of ``batch`` samples of ``size`` elements fits the sampler's float64 state in memory
    (``device_limit``: the accelerator's, None: this machine's)."""
    check_memory(field, batch, size * 8 * SAMPLER_STATE_COPIES,
                 f"the sampler's float64 state, about {SAMPLER_STATE_COPIES} copies of each sample",
                 limit=device_limit, where="the accelerator's" if device_limit else "this machine's")


@dataclass(frozen=True)
class GeneratedBatch:
    """``samples`` (float32, at sigma = 0) of the global ``seeds``, with their ``labels`` (or None)."""

    seeds: list[int]
    samples: Tensor
    labels: Tensor | None


def generate_batches(
    sampler: Sampler,
    denoiser: Any,
    seeds: Sequence[int],
    *,
    shape: Sequence[int],
    batch_size: int,
    device: torch.device | str,
    num_classes: int = 0,
    class_labels: int | None = None,
    label: str | None = None,
) -> Iterator[GeneratedBatch]:
    """Samples of ``sampler`` for ``seeds`` in batches of at most ``batch_size``.

    Class-conditional data (``num_classes`` > 0) gets one label per seed (or the fixed
    ``class_labels``). The executor checks that every batch makes exactly the planned calls; a non-finite
    state raises FloatingPointError naming the sampler (``label``) and the batch's seeds.
    ``shape`` is the data's; a latent model's denoiser (one with a ``latent_space``) is sampled in
    its latent shape and the samples are decoded to data before they are yielded.
    """
    seeds = seeds if isinstance(seeds, range) else list(seeds)  # a range stays lazy (its slices are ranges)
    name = label or sampler.name
    latent_space = getattr(denoiser, "latent_space", None)
    state_shape = tuple(shape) if latent_space is None else latent_space.shape(shape)
    for start in range(0, len(seeds), batch_size):
        batch_seeds = list(seeds[start : start + batch_size])
        labels = draw_labels(batch_seeds, num_classes, class_labels, device)
        try:
            result = sampler(denoiser, seeds=batch_seeds, shape=state_shape, labels=labels, device=device)
        except FloatingPointError as error:  # say which sampler and seeds, for a rerun of just those
            raise FloatingPointError(
                f"{error}; sampler {name!r}, seeds {batch_seeds[0]}..{batch_seeds[-1]}"
            ) from error
        samples = result.samples if latent_space is None else latent_space.decode(result.samples)
        yield GeneratedBatch(batch_seeds, samples.to(torch.float32), labels)
