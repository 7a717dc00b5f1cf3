"""The Lightning side of ``tune``: a callback that races every budget inside ``trainer.test``.

Running inside the test loop gives ``tune`` what ``test`` has: the checkpoint loaded with its EMA
weights, the processes of the strategy (DDP), the model on its device. The callback builds the
evaluation's metric suite for the one metric, derives the search space's context from the model,
and for each budget not yet finished runs ``race.tune_family`` (decisions and files on rank 0,
evaluations everywhere), then writes the preset, the completion file and the table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from restart_lightning.callbacks.progress import say
from restart_lightning.evaluation.metric_suite import build_metric_suite, default_metric_names, is_low_dimensional
from restart_lightning.tuning.race import tune_family
from restart_lightning.tuning.tune import (
    JOURNAL,
    SampleScorer,
    TuneSettings,
    check_output_dir,
    describe,
    load_done,
    model_context,
    preset_path,
    write_done,
    write_preset,
    write_settings,
    write_table,
)


def default_metric(datamodule: Any, feature_extractor: Any = "auto") -> str:
    """KL for toy data with a known density, else the evaluation's leading default (sliced W2, FID, ...)."""
    shape = tuple(datamodule.data_shape)
    if is_low_dimensional(shape):
        return "kl" if getattr(datamodule, "mixture", None) is not None else "sliced_w2"
    kind = "inception" if feature_extractor == "auto" else feature_extractor
    return default_metric_names(False, kind, getattr(datamodule, "has_real_data", True))[0]


class TuneCallback(Callback):
    """Runs the search of ``settings`` when the test loop starts; ``records`` holds one dict per budget.

    ``evaluation``: keyword settings of the metric suite (feature extractor, weights, reference
    statistics), usually the configured ``SamplerEvaluation``'s.
    """

    def __init__(self, settings: TuneSettings, output_dir: Path, checkpoint: str | None, batch_size: int,
                 evaluation: dict[str, Any] | None = None) -> None:
        self.settings, self.output_dir, self.checkpoint = settings, Path(output_dir), checkpoint
        self.batch_size, self.evaluation = batch_size, dict(evaluation or {})
        self.records: list[dict[str, Any]] = []

    @torch.no_grad()
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        settings, datamodule, strategy = self.settings, trainer.datamodule, trainer.strategy
        device = pl_module.device
        metric = settings.metric or default_metric(datamodule, self.evaluation.get("feature_extractor", "auto"))
        suite = build_metric_suite(datamodule, num_samples=max(settings.samples_per_rung), names=[metric],
                                   device=device, **self.evaluation).to(device)
        denoiser = pl_module.denoiser
        context = model_context(denoiser, settings.band)
        scorer = SampleScorer(
            denoiser, suite, metric, shape=datamodule.data_shape, batch_size=self.batch_size, device=device,
            rank=trainer.global_rank, world_size=trainer.world_size,
            num_classes=int(getattr(datamodule, "num_classes", 0)),
            reduce_any=lambda flag: bool(strategy.reduce(torch.tensor(float(flag), device=device),
                                                         reduce_op="sum") > 0),
        )
        main = trainer.is_global_zero
        if main:
            check_output_dir(self.output_dir, settings)
            write_settings(self.output_dir, settings)
        band = "from the diagnostic" if settings.band else "guessed from sigma_data (no --band)"
        low, high = context.error_band()
        say(trainer, f"tune {settings.family}: metric {metric}, budgets {', '.join(map(str, settings.budgets))}, "
                     f"samples per rung {', '.join(map(str, settings.samples_per_rung))}, {trainer.world_size} "
                     f"process(es); sigma {context.sigma_min:.4g}..{context.sigma_max:.4g}, sigma_data "
                     f"{context.sigma_data:.4g}, error band {low:.3g}..{high:.3g} ({band}); output {self.output_dir}")
        started = time.perf_counter()
        for budget in settings.budgets:
            done = strategy.broadcast(load_done(self.output_dir, settings.family, budget) if main else None, src=0)
            if done is not None:
                say(trainer, f"tune {settings.family} @ {budget} NFE: finished before "
                             f"({preset_path(self.output_dir, settings.family, budget)}), skipped")
                self.records.append(done)
                continue
            budget_started = time.perf_counter()

            def progress(line: str) -> None:
                say(trainer, f"[{time.perf_counter() - started:6.0f} s] {line}")

            result = tune_family(
                settings.family, budget, context, scorer, samples_per_rung=settings.samples_per_rung,
                seed_start=settings.seed_start, storage=str(self.output_dir / JOURNAL) if main else None,
                progress=progress, candidates=settings.candidates, reduction=settings.reduction,
                num_blocks=settings.num_blocks, sampler_seed=settings.search_seed, searches=settings.searches,
                broadcast=lambda obj: strategy.broadcast(obj, src=0), is_main=main,
            )
            seconds = time.perf_counter() - budget_started
            record = {**describe(result, metric, settings, scorer.sign), "budget": budget, "seconds": seconds,
                      "checkpoint": self.checkpoint, "processes": trainer.world_size,
                      "preset": str(preset_path(self.output_dir, settings.family, budget))}
            if main:
                write_preset(Path(record["preset"]), record, budget, self.checkpoint, seconds)
                write_done(self.output_dir, record)
                write_table(self.output_dir, settings.family)
            spread = record["spread"]
            tail = f", blocks {spread['mean']:.4g} +- {spread['half_width']:.2g}" if spread else ""
            say(trainer, f"tune {settings.family} @ {budget} NFE: {metric} {record['value']:.4g} on "
                         f"{record['samples']} samples{tail}, NFE {record['nfe']}, {seconds:.0f} s -> "
                         f"{record['preset']}")
            self.records.append(record)
            strategy.barrier()
        if main:
            say(trainer, f"tune: table {write_table(self.output_dir, settings.family)}")
