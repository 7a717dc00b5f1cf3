"""A progress bar for sampling, drawn by the trainer's own progress bar library (tqdm or rich).

Shown on rank zero only, while the trainer's progress bar is enabled. It counts the samples of the
rank-zero share; within a batch it advances with every denoiser call, so a single large batch
still moves, and its text carries the sampler's label and the NFE spent on the current batch.
"""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.callbacks.progress.rich_progress import RichProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm, TQDMProgressBar
from tqdm import tqdm

from restart_lightning.sampling.plan import nfe_per_call


def say(trainer: Any, line: str) -> None:
    """Print one line on rank zero without breaking the trainer's progress bar."""
    if not trainer.is_global_zero:
        return
    bar = getattr(trainer, "progress_bar_callback", None)
    if isinstance(bar, TQDMProgressBar) and bar.is_enabled:
        # tqdm's own write moves every live bar out of the way, and prints even when none is showing
        # (outside a loop, or before the loop's bar exists), where TQDMProgressBar.print writes nothing
        tqdm.write(line)
        sys.stdout.flush()
    elif bar is not None and bar.is_enabled:
        bar.print(line)
    else:
        print(line, flush=True)


class SamplingProgress:
    """``advance(fraction)`` moves the bar by ``fraction`` samples; ``close()`` removes it."""

    def __init__(self, trainer: Any, label: str, nfe: int, total: int) -> None:
        self.label, self.nfe, self.total = label, nfe, total
        self._done, self._shown = 0.0, 0  # samples done (fractional within a batch), samples drawn
        self._tqdm = None
        self._rich = None
        self._task = None
        bar = getattr(trainer, "progress_bar_callback", None)
        if not trainer.is_global_zero or bar is None or not bar.is_enabled or total == 0:
            return
        if isinstance(bar, RichProgressBar) and bar.progress is not None:
            self._rich = bar.progress
            self._task = self._rich.add_task(self._text(0), total=total)
        elif isinstance(bar, TQDMProgressBar):
            self._tqdm = Tqdm(desc=self._text(0), total=total, position=2 * bar.process_position + 2,
                              leave=False, dynamic_ncols=True, file=sys.stdout, unit="sample")

    def _text(self, spent: int) -> str:
        return f"sampling {self.label} (NFE {spent}/{self.nfe})"

    def advance(self, samples: float, spent: int) -> None:
        self._done += samples
        step, self._shown = round(self._done) - self._shown, round(self._done)
        if self._tqdm is not None:
            self._tqdm.set_description(self._text(spent), refresh=False)
            self._tqdm.update(step)
        elif self._rich is not None:
            self._rich.update(self._task, advance=step, description=self._text(spent))
            self._rich.refresh()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        elif self._rich is not None:
            self._rich.remove_task(self._task)
            self._rich.refresh()
        self._tqdm = self._rich = None


class CountingDenoiser:
    """Passes every call on to ``denoiser`` and moves ``progress`` by batch / calls-per-batch samples.

    Every other attribute (``sigma_min``, ``nfe_per_call``, ``parameters`` ...) is the denoiser's, so
    a sampler plans and runs exactly as it would on the denoiser itself.
    """

    def __init__(self, denoiser: Any, progress: SamplingProgress, calls_per_batch: int) -> None:
        self._denoiser, self._progress = denoiser, progress
        self._calls_per_batch, self._calls = max(calls_per_batch, 1), 0

    def __call__(self, x, sigma, *args, **kwargs):
        out = self._denoiser(x, sigma, *args, **kwargs)
        self._calls += 1
        in_batch = (self._calls - 1) % self._calls_per_batch + 1  # the sampler calls plan.calls times per batch
        self._progress.advance(x.shape[0] / self._calls_per_batch, in_batch * nfe_per_call(self._denoiser))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._denoiser, name)
