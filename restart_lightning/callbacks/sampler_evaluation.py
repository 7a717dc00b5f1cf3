"""Evaluate every configured sampler on the EMA denoiser: metrics, NFE, time, pictures, files.

The callback only orchestrates: it decides when, splits the sample indices between processes,
calls the samplers with per-sample seeds, feeds torchmetrics metrics (every rank updates and
computes, so DDP syncs them) and logs them through Lightning (``evaluation.logging``), so that
``ModelCheckpoint(monitor=...)``, ``EarlyStopping`` and ``trainer.test()`` see them.

When it evaluates, and where Lightning accepts the values:
- at a validation epoch's end (``on_validation_epoch_end``) of every ``every_n_epochs``-th one,
  in ``fit`` and ``validate``;
- every ``every_n_steps`` training steps (``on_train_batch_end``, logged per step);
- once more when fit ends (``at_fit_end``), in the last ``on_train_epoch_end``: Lightning refuses
  ``self.log`` in ``on_train_end``, and the epoch end of the last epoch is the last hook that logs
  (monitoring callbacks run after it, so a checkpoint saved there sees the values);
- in ``test`` (``on_test_epoch_end``), which also writes every sample and the quality-vs-NFE curves.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

from restart_lightning.callbacks.progress import CountingDenoiser, SamplingProgress, say
from restart_lightning.constraints import (
    FiniteNonNegativeFloat,
    IntegerAtLeastTwo,
    NonNegativeInteger,
    PositiveInteger,
    Seed,
    check_arguments,
)
from restart_lightning.evaluation.block_report import block_tables, log_block_scalars
from restart_lightning.evaluation.export import SampleWriter
from restart_lightning.evaluation.generation import check_batch_memory, check_plan, generate_batches
from restart_lightning.evaluation.logging import (
    log_curves,
    log_pictures,
    log_scalars,
    results_line,
    results_table,
    silence_unsynced_warning,
)
from restart_lightning.evaluation.metric_suite import build_metric_suite, check_metric_names, reference_points
from restart_lightning.evaluation.metric_suite_checks import check_metric_inputs
from restart_lightning.evaluation.shares import rank_share
from restart_lightning.memory import check_memory
from restart_lightning.metrics.weights import MissingWeightsError
from restart_lightning.reliability.errors import ConfigError
from restart_lightning.sampling.registry import NamedSampler, parse_sampler_specs

# The setting of this callback that points at each kind of weights file (named in a missing file's error).
WEIGHTS_FIELDS = {"inception": "inception_weights", "dinov2": "dinov2_weights"}


class SamplerEvaluation(Callback):
    """Runs the configured samplers at validation time, once at the end of fit, and in ``test``.

    Args:
        samplers: label -> sampler spec: a registry name (``heun``), a preset YAML file, or a
            dict ``{name: ..., <options>}``, optionally with ``sweep: {option: [values]}``.
        num_samples: n, the samples per sampler and evaluation (split across processes).
        batch_size: samples per sampler call on each process.
        every_n_epochs: evaluate at every k-th validation epoch (0: never during fit).
        every_n_steps: also evaluate every k training steps (None: off).
        at_fit_end: evaluate once more when fit ends (unless the last step was just evaluated).
        feature_extractor: ``auto`` (identity for 2-D data, Inception for images),
            ``inception``, ``identity`` or an ``nn.Module`` mapping samples to features.
        inception_weights: path of the Inception-v3 weights file (torch-fidelity's
            weights-inception-2015-12-05-6726825d.pth); None: torch hub's checkpoints directory,
            then the project cache (``metrics.weights.find_inception_weights``).
        reference_stats: .npz file of the real data's feature mean and covariance (keys mu,
            sigma; EDM's format); loaded if it exists, else computed once and written there.
            ``auto``: a file under ``$RESTART_LIGHTNING_CACHE`` (``~/.cache/restart_lightning``)
            named by the data's settings and the feature extractor; None: keep them in memory.
        num_reference_samples: real samples used for the reference statistics.
        num_pictures: samples shown in the image grid (seeds 0..k-1).
        save_samples: write every sample (.npz) and a picture per sampler; always on in ``test``.
        seed_offset: sample i uses seed seed_offset + i.
        class_labels: a fixed class for every sample, or None to draw one per sample from its seed.
        guidance_scale: classifier-free guidance weight (1: the conditional denoiser).
        metrics: the metrics to report, in this order (None: the data's defaults -- ``sliced_w2``,
            ``kl``, ``nll``, ``mode_coverage``, ``in_mode_fraction`` for 2-D data; ``fid`` (or
            ``frechet``), ``kid``, ``precision``, ``recall`` for images). Also ``fd_dinov2``,
            ``kid_dinov2``, ``precision_dinov2``, ``recall_dinov2``, ``clip_score``; ``frechet``,
            ``kid``, ``precision``, ``recall`` for 2-D data. See docs/metrics.md.
        dinov2_weights: path of the DINOv2 ViT-L/14 weights (dinov2_vitl14_pretrain.pth) for ``*_dinov2``;
            None: torch hub's checkpoints directory, then the project cache.
        clip_model: local transformers CLIP model directory for ``clip_score``.
        seed_blocks: in ``test``, also report every metric on B disjoint blocks of n // B seeds
            (mean, std, 95% interval; paired differences to the first sampler). None: 5 blocks
            when n >= 20, else none; 0: off.
        print_results: print a line per sampler after each evaluation in fit, and a table after
            ``test`` and ``validate`` (unless Lightning prints its own: ``verbose=True``).
    """

    def __init__(
        self,
        samplers: dict[str, str | dict[str, Any]] | None = None,
        num_samples: PositiveInteger = 10_000,
        batch_size: PositiveInteger = 1_000,
        every_n_epochs: NonNegativeInteger = 1,
        every_n_steps: PositiveInteger | None = None,
        at_fit_end: bool = True,
        feature_extractor: Literal["auto", "inception", "identity"] | nn.Module = "auto",
        inception_weights: str | None = None,
        reference_stats: str | None = "auto",
        num_reference_samples: IntegerAtLeastTwo = 50_000,
        num_pictures: NonNegativeInteger = 64,
        save_samples: bool = False,
        seed_offset: Seed = 0,
        class_labels: NonNegativeInteger | None = None,
        guidance_scale: FiniteNonNegativeFloat = 1.0,
        metrics: list[str] | None = None,
        dinov2_weights: str | None = None,
        clip_model: str | None = None,
        seed_blocks: NonNegativeInteger | None = None,
        print_results: bool = True,
    ) -> None:
        super().__init__()
        check_arguments(SamplerEvaluation.__init__, locals(), "SamplerEvaluation")
        check_metric_names(metrics, "SamplerEvaluation.metrics")
        if seed_blocks is None:
            seed_blocks = 5 if num_samples >= 20 else 0
        if seed_blocks == 1 or seed_blocks > num_samples // 2:
            raise ValueError(f"SamplerEvaluation.seed_blocks: invalid value {seed_blocks!r}; allowed: 0 (off) or an "
                             f"integer in [2, num_samples // 2 = {num_samples // 2}]")
        specs = samplers or {"heun": "heun"}
        self.samplers: list[NamedSampler] = parse_sampler_specs(specs, "SamplerEvaluation.samplers")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.every_n_epochs, self.every_n_steps, self.at_fit_end = every_n_epochs, every_n_steps, at_fit_end
        self.feature_extractor, self.inception_weights = feature_extractor, inception_weights
        self.reference_stats, self.num_reference_samples = reference_stats, num_reference_samples
        self.num_pictures, self.save_samples, self.seed_offset = num_pictures, save_samples, seed_offset
        self.class_labels, self.guidance_scale = class_labels, guidance_scale
        self.metric_names, self.dinov2_weights, self.clip_model = metrics, dinov2_weights, clip_model
        self.seed_blocks = seed_blocks
        self.print_results = print_results
        self.metrics = None
        self._planned: set[str] = set()  # labels whose plan summary was printed
        self.reference = None
        self.last_evaluated_step = -1
        self.results: list[dict[str, Any]] = []
        self.block_results: dict[str, dict[str, list[float]]] = {}  # label -> metric -> per seed block (test)

    def replace_samplers(self, samplers: list[NamedSampler]) -> None:
        """Use these samplers instead (the command line's ``--sampler``)."""
        self.samplers = list(samplers)

    # ------------------------------------------------------------------ before the run writes anything
    def check_before_run(self, model, datamodule, subcommand: str, device_limit: int | None = None) -> None:
        """This callback's settings against the built model and data, called by the pre-flight step.

        Guidance and fixed class labels against the data's classes and the network's conditioning;
        every sampler's plan on this denoiser's sigma range; the metrics' weights and statistics
        (``metric_suite_checks``); the memory the kept samples, the sampler's batch and the pictures
        take. ``device_limit``: the accelerator's memory, for the sampler batches (None: the CPU's).
        """
        name = type(self).__name__
        shape = tuple(int(s) for s in datamodule.data_shape)
        num_classes = int(getattr(datamodule, "num_classes", 0) or 0)
        guidance = float(self.guidance_scale)
        if guidance != 1.0:
            if num_classes == 0:
                raise ConfigError(f"{name}.guidance_scale: {guidance} needs class-conditional data, but "
                                  f"{type(datamodule).__name__} has no labels; allowed: 1.0 for this data")
            if network_classes(model) == 0:
                raise ConfigError(f"{name}.guidance_scale: {guidance} needs a network that takes class labels, "
                                  "but model.net has num_classes 0; allowed: 1.0 for this network")
        fixed = self.class_labels
        if fixed is not None and not 0 <= fixed < num_classes:
            allowed = (f"an integer in [0, {num_classes - 1}] or null" if num_classes
                       else "null (the data has no labels)")
            raise ConfigError(f"{name}.class_labels: invalid value {fixed!r}; allowed: {allowed}")
        denoiser = getattr(model, "denoiser", None)  # DiffusionModule's (EMA or live: one sigma range) or an adapter's
        if guidance != 1.0 and denoiser is not None:
            from restart_lightning.guidance import GuidedDenoiser

            denoiser = GuidedDenoiser(denoiser, guidance)
        for named in self.samplers if denoiser is not None else []:
            check_plan(f"{name}.samplers.{named.label}", named.sampler, denoiser)
        check_metric_inputs(name, datamodule, shape, feature_extractor=self.feature_extractor,
                            metric_names=self.metric_names, inception_weights=self.inception_weights,
                            dinov2_weights=self.dinov2_weights, reference_stats=self.reference_stats,
                            num_reference_samples=int(self.num_reference_samples))
        self._check_memory(shape, name, subcommand == "test" or bool(self.save_samples), device_limit)

    def _check_memory(self, shape: tuple[int, ...], name: str, keeps_all: bool, device_limit: int | None) -> None:
        size = math.prod(shape)
        low_dimensional = len(shape) == 1
        check_batch_memory(f"{name}.batch_size", self.batch_size, size, device_limit)
        kept = 4 * size if low_dimensional else 0  # 2-D samples are all kept for the density picture
        if keeps_all:  # the sample files: collected, then merged by rank 0 (uint8 images, float32 points)
            kept += 2 * (4 * size if low_dimensional else size)
        if kept:
            check_memory(f"{name}.num_samples", self.num_samples, kept, "the samples kept for pictures and files")
        if low_dimensional:
            check_memory(f"{name}.num_reference_samples", self.num_reference_samples, 16 * size,
                         "the real points held at once, float64 and float32")
        else:
            check_memory(f"{name}.num_pictures", self.num_pictures, 12 * size, "the picture grid, float32")

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.every_n_steps and self.every_n_steps % trainer.log_every_n_steps:
            raise ValueError(
                f"SamplerEvaluation.every_n_steps ({self.every_n_steps}) must be a multiple of "
                f"trainer.log_every_n_steps ({trainer.log_every_n_steps}): Lightning writes per-step values "
                "to the loggers only at those steps"
            )
        for logged_stage in ("val", "test"):
            silence_unsynced_warning(logged_stage)
        if self.metrics is not None:
            return
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "data_shape"):
            raise ValueError("SamplerEvaluation needs a datamodule with `data_shape` (and reference data)")
        # Built before any training or sampling: missing weights or a reference file of the
        # wrong dimension fail here.
        device = trainer.strategy.root_device  # the module is still on the CPU in setup; sampling is not
        try:
            self.metrics = build_metric_suite(
                datamodule, self.feature_extractor, self.inception_weights, self.reference_stats,
                self.num_reference_samples, self.num_samples, self.metric_names, self.dinov2_weights,
                self.clip_model, device=device,
            ).to(device)
        except MissingWeightsError as error:  # named by this callback's own setting
            field = WEIGHTS_FIELDS.get(error.kind)
            raise (error.with_field(f"SamplerEvaluation.{field}") if field else error) from None
        self.reference = reference_points(datamodule)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if trainer.state.fn == "validate":
            self.evaluate(trainer, pl_module, "val", hook="on_validation_epoch_end")
        elif self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.evaluate(trainer, pl_module, "val", hook="on_validation_epoch_end")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self.evaluate(trainer, pl_module, "val", hook="on_train_batch_end")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.at_fit_end and self.last_evaluated_step != trainer.global_step and fit_ends_after_this_epoch(trainer):
            self.evaluate(trainer, pl_module, "val", hook="on_train_epoch_end")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.evaluate(trainer, pl_module, "test", save=True, curves=True, hook="on_test_epoch_end")
        if self.block_results:
            log_block_scalars(pl_module, "on_test_epoch_end", "test", self.block_results, self.metrics.block_size)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print_table(trainer, "test", trainer.test_loop)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "validate":
            self._print_table(trainer, "val", trainer.validate_loop)

    def state_dict(self) -> dict[str, Any]:
        return {"last_evaluated_step": self.last_evaluated_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_evaluated_step = int(state_dict.get("last_evaluated_step", -1))

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str, save: bool = False,
                 curves: bool = False, hook: str = "on_validation_epoch_end") -> list[dict[str, Any]]:
        """Every sampler, n samples each; logs (from Lightning hook ``hook``) and returns one row per sampler."""
        self.last_evaluated_step = trainer.global_step
        denoiser = self._denoiser(pl_module)
        share = rank_share(self.num_samples, trainer.global_rank, trainer.world_size)
        out_dir = Path(trainer.log_dir or trainer.default_root_dir) / "samples"
        self.results, self.block_results = [], {}
        if stage == "test" and self.seed_blocks and not self.metrics.num_blocks:
            self.metrics.enable_seed_blocks(self.seed_blocks)  # copies only where they are reported
        for named in self.samplers:
            writer = SampleWriter(out_dir / named.label, trainer) if (save or self.save_samples) else None
            row = self._evaluate_one(trainer, pl_module, denoiser, named, share, writer, stage, hook)
            self.results.append(row)
            log_scalars(pl_module, hook, stage, named, row, self.num_samples)
            if curves:
                log_curves(trainer, stage, named, row, self.num_samples)
            if self.print_results and trainer.state.fn == "fit":
                say(trainer, f"step {trainer.global_step} | {results_line(row, self.num_samples)}")
        return self.results

    def _print_table(self, trainer: pl.Trainer, stage: str, loop: Any) -> None:
        """The results table, unless Lightning printed its own (``verbose=True``) with the same numbers."""
        if not self.print_results or not self.results or getattr(loop, "verbose", False):
            return
        loss = trainer.callback_metrics.get(f"{stage}/loss")
        extra = f"\n{stage}/loss (held-out denoising loss): {float(loss):.4g}" if loss is not None else ""
        say(trainer, "\n" + results_table(self.results, self.num_samples) + extra)
        if self.block_results:
            say(trainer, "\n" + block_tables(self.results, self.block_results, self.metrics.block_size))

    def _denoiser(self, pl_module: pl.LightningModule):
        denoiser = pl_module.denoiser
        if self.guidance_scale != 1.0:
            from restart_lightning.guidance import GuidedDenoiser

            denoiser = GuidedDenoiser(denoiser, self.guidance_scale)
        return denoiser

    def _evaluate_one(self, trainer, pl_module, denoiser, named: NamedSampler, share: range,
                      writer, stage: str, hook: str) -> dict[str, Any]:
        datamodule = trainer.datamodule
        shape = tuple(datamodule.data_shape)
        num_classes = int(getattr(datamodule, "num_classes", 0))
        self.metrics.reset()
        pictures: list[Tensor] = []
        plan = named.sampler.plan(denoiser)
        seeds = range(self.seed_offset + share.start, self.seed_offset + share.stop)  # not a list: n may be huge
        if named.label not in self._planned:  # once per sampler and run: what it will do
            self._planned.add(named.label)
            say(trainer, f"sampler {named.label}: {plan.summary()}; {self.num_samples} samples, seeds "
                         f"{self.seed_offset}..{self.seed_offset + self.num_samples - 1}")
        progress = SamplingProgress(trainer, named.label, plan.nfe, len(seeds))
        counted = CountingDenoiser(denoiser, progress, plan.calls)
        blocks = stage == "test" and self.metrics.num_blocks > 0  # per-seed-block copies of the metrics
        started = time.perf_counter()
        try:
            for batch in generate_batches(named.sampler, counted, seeds, shape=shape, batch_size=self.batch_size,
                                          device=pl_module.device, num_classes=num_classes,
                                          class_labels=self.class_labels, label=named.label):
                indices = torch.tensor(batch.seeds) - self.seed_offset if blocks else None
                self.metrics.update(batch.samples, labels=batch.labels, indices=indices)
                if len(pictures) * self.batch_size < self.num_pictures or self.reference is not None:
                    pictures.append(batch.samples.cpu())
                if writer is not None:
                    writer.add(batch.seeds, batch.samples)
        finally:
            progress.close()
        seconds = time.perf_counter() - started
        strategy = trainer.strategy
        total = int(strategy.reduce(torch.tensor(len(share), device=pl_module.device), reduce_op="sum"))
        assert total == self.num_samples, f"generated {total} samples instead of {self.num_samples}"
        # The evaluation takes as long as its slowest process: every rank logs that same value.
        seconds = float(strategy.all_gather(torch.tensor(seconds, device=pl_module.device)).max())
        values = {name: float(value) for name, value in self.metrics.compute().items()}
        if blocks:
            self.block_results[named.label] = self.metrics.compute_blocks()
        picture_samples = torch.cat(pictures) if pictures else torch.empty(0, *shape)
        log_pictures(trainer, hook, stage, named.label, picture_samples, self.reference, self.num_pictures)
        if writer is not None:
            writer.finish(self.reference)
        return {"label": named.label, "family": named.family, "nfe": plan.nfe, "seconds": seconds, **values}


def network_classes(model: Any) -> int | None:
    """The number of classes the network is conditioned on (0: unconditional; None: it does not say)."""
    net = getattr(getattr(model, "model", None), "net", None)
    value = getattr(net, "num_classes", None)
    return int(value) if isinstance(value, int) else None


def fit_ends_after_this_epoch(trainer: pl.Trainer) -> bool:
    """In ``on_train_epoch_end``: whether the fit loop stops after this epoch (the conditions of
    Lightning's ``FitLoop.done``: max_steps, max_epochs, or a stop request once min_steps/min_epochs are met)."""
    if trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        return True
    if trainer.max_epochs not in (None, -1) and trainer.current_epoch + 1 >= trainer.max_epochs:
        return True
    min_steps, min_epochs = trainer.fit_loop.min_steps, trainer.fit_loop.min_epochs
    can_stop = (not min_steps or trainer.global_step >= min_steps) and (
        not min_epochs or trainer.current_epoch + 1 >= min_epochs
    )
    return bool(trainer.should_stop and can_stop)
