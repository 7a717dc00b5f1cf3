"""``TuningTrainer``: Lightning's Trainer with the tuning subcommands as methods (LightningCLI runs
``trainer.<subcommand>(model=..., datamodule=..., **arguments)``; the arguments are the method's
typed parameters, so the command line refuses bad values while parsing).

- ``diagnose``: where a checkpoint's error lives (``tuning.error_profile``, ``tuning.hybrid``);
- ``tune``: a sampler family's best options per NFE budget, written as presets (``tuning.race``, ``tuning.tune``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger

from restart_lightning.callbacks.progress import say
from restart_lightning.constraints import (
    FinitePositiveFloat,
    IntegerAtLeastTwo,
    PositiveInteger,
    Seed,
    UnitInterval,
    check_arguments,
)
from restart_lightning.reliability.errors import ConfigError
from restart_lightning.tuning.diagnose import (
    held_out_data,
    hybrid_table,
    loss_weight_of,
    profile_table,
    sigma_range,
)
from restart_lightning.tuning.error_profile import ErrorProfile, default_sigma_grid, measure_error_profile
from restart_lightning.tuning.hybrid import HybridSplit, default_cuts, run_hybrid, toy_metrics
from restart_lightning.tuning.plot import error_profile_image, image_tensor
from restart_lightning.tuning.race import DEFAULT_NUM_BLOCKS, DEFAULT_REDUCTION, TUNING_SEED_START

# Subcommand -> the method arguments the CLI fills in itself (LightningCLI.subcommands()'s format).
TUNING_SUBCOMMANDS: dict[str, set[str]] = {"diagnose": {"model", "datamodule"}, "tune": {"model", "datamodule"}}
MIN_HYBRID_SAMPLES = 6  # the kNN entropy of the KL metric needs more than k = 5 samples


DEFAULT_TUNE_BATCH_SIZE = 10_000


TUNE_ARGUMENTS = ("family", "budgets", "metric", "samples_per_rung", "candidates", "reduction", "num_blocks",
                  "seed_start", "band", "search_seed", "searches")


def check_tune_arguments(config: Any) -> None:
    """The ``tune`` subcommand's arguments as parsed (ValueError naming the field), before anything loads."""
    from restart_lightning.tuning.tune import parse_settings

    parse_settings(**{name: config.get(name) for name in TUNE_ARGUMENTS if config.get(name) is not None})
    _check_batch_size(config.get("batch_size"))
    if config.get("ckpt_path") is None:  # an untrained model's presets would mean nothing
        raise ConfigError("ckpt_path: tune needs a checkpoint; allowed: a checkpoint file or 'last'")


def _check_batch_size(batch_size: Any) -> None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: {batch_size!r} is invalid; allowed: an integer >= 1 (or null)")


@dataclass(frozen=True)
class Diagnosis:
    """What ``diagnose`` measured and where it wrote it."""

    profile: ErrorProfile
    band: tuple[float, float]
    hybrid: HybridSplit | None
    directory: Path


class _Progress:
    """One line at every eighth of the work (no progress bar exists outside Lightning's loops)."""

    def __init__(self, trainer: Trainer, what: str) -> None:
        self.trainer, self.what, self.shown = trainer, what, 0

    def __call__(self, done: int, total: int) -> None:
        eighth = done * 8 // total
        if eighth > self.shown:
            self.shown = eighth
            say(self.trainer, f"{self.what}: {100 * done // total}% ({done}/{total} batches)")


class TuningTrainer(Trainer):
    """A Trainer that also diagnoses a checkpoint (``main.py diagnose``) and tunes samplers on it (``main.py tune``)."""

    def diagnose(
        self,
        model: LightningModule,
        datamodule: LightningDataModule | None = None,
        ckpt_path: str | None = None,
        num_samples: IntegerAtLeastTwo = 10_000,
        num_sigmas: IntegerAtLeastTwo = 48,
        noise_per_point: PositiveInteger = 1,
        sigma_min: FinitePositiveFloat | None = None,
        sigma_max: FinitePositiveFloat | None = None,
        seed: Seed = 0,
        batch_size: PositiveInteger = 4096,
        band_share: UnitInterval = 0.8,
        hybrid: bool = False,
        hybrid_samples: IntegerAtLeastTwo = 10_000,
        hybrid_cuts: list[FinitePositiveFloat] | None = None,
    ) -> Diagnosis:
        """Where is the error? The loss per sigma of the EMA denoiser, and the hybrid test (toy mixtures).

        Args:
            ckpt_path: the checkpoint to diagnose (``last``: the newest of the run directory).
            num_samples: held-out points of the error profile.
            num_sigmas: points of its log-sigma grid.
            noise_per_point: noise draws per point and sigma.
            sigma_min, sigma_max: the grid's ends (None: those of the model's predict sampler's grid).
            seed: seeds the profile's noise (the same seed gives comparable profiles).
            batch_size: points per denoiser call.
            band_share: the share of the excess error the reported error band holds.
            hybrid: also run the hybrid test (needs data with an exact denoiser: the toy mixtures), with
                the model's predict sampler (``--sampler`` replaces it) on seeds 0..hybrid_samples-1.
            hybrid_samples: samples per hybrid run.
            hybrid_cuts: the sigma cuts (None: 10 log-spaced inside the grid's range).
        """
        check_arguments(TuningTrainer.diagnose, locals(), "diagnose")
        if ckpt_path is None:
            raise ConfigError("ckpt_path: diagnose needs a checkpoint; allowed: a checkpoint file or 'last'")
        mixture = getattr(datamodule, "mixture", None)
        if hybrid and mixture is None:
            raise ConfigError("hybrid: true needs data whose exact denoiser is known; allowed: the toy mixtures "
                              "(data.name grid or ring), or hybrid: false")
        if hybrid and hybrid_samples < MIN_HYBRID_SAMPLES:
            raise ConfigError(f"hybrid_samples: invalid value {hybrid_samples}; allowed: an integer >= "
                              f"{MIN_HYBRID_SAMPLES} (the KL's kNN entropy)")
        if band_share == 0:
            raise ConfigError("band_share: invalid value 0.0; allowed: a number in (0, 1]")
        if sigma_min is not None and sigma_max is not None and not sigma_min < sigma_max:
            raise ConfigError(f"sigma_min, sigma_max: invalid values {sigma_min}, {sigma_max}; allowed: sigma_min "
                              "< sigma_max")
        step = self._load_weights(model, ckpt_path)
        device = self._device()
        model.to(device).eval()
        denoiser = model.denoiser if hasattr(model, "denoiser") else model
        weights = "EMA weights" if getattr(getattr(model, "ema", None), "ready", False) else "live weights"
        sampler = getattr(model, "predict_sampler", None)
        low, high = sigma_range(sampler, denoiser) if sampler is not None else (0.002, 80.0)
        sigmas = default_sigma_grid(sigma_min or low, sigma_max or high, num_sigmas)
        data, labels, source = held_out_data(datamodule, num_samples)
        weight, weight_text = loss_weight_of(model, denoiser)
        exact = mixture.denoiser() if mixture is not None else None
        say(self, f"diagnose {ckpt_path} (step {step}, {weights}): {source} x {noise_per_point} noise draw(s), "
                   f"{num_sigmas} sigmas from {sigmas[0]:.4g} to {sigmas[-1]:.4g}, weighted by {weight_text}"
                   + ("; exact denoiser known" if exact is not None else ""))
        profile = measure_error_profile(
            denoiser, weight, data, sigmas=sigmas, noise_per_point=noise_per_point, seed=seed, exact=exact,
            labels=labels, batch_size=batch_size, device=device, progress=_Progress(self, "error profile"))
        band = profile.error_band(band_share)
        split = None
        if hybrid:
            split = self._hybrid(model, denoiser, mixture, datamodule, sampler, hybrid_samples, hybrid_cuts,
                                 sigmas, batch_size, device)
        directory = Path(self.log_dir or self.default_root_dir)
        if self.is_global_zero:
            self._report(profile, band, band_share, split, directory)
        return Diagnosis(profile, band, split, directory)

    def tune(
        self,
        model: Optional[LightningModule] = None,
        datamodule: Optional[LightningDataModule] = None,
        ckpt_path: Optional[str] = None,
        budgets: Union[str, list[int]] = "50,100,200",
        family: str = "restart",
        metric: Optional[str] = None,
        output_dir: Optional[str] = None,
        samples_per_rung: Union[str, list[int]] = "1000,4000,16000",
        candidates: Optional[int] = None,
        reduction: int = DEFAULT_REDUCTION,
        num_blocks: int = DEFAULT_NUM_BLOCKS,
        seed_start: int = TUNING_SEED_START,
        band: Optional[Union[str, list[float]]] = None,
        batch_size: Optional[int] = None,
        search_seed: int = 0,
        searches: int = 1,
    ) -> list[dict]:
        """Search a sampler family's options per NFE budget on a checkpoint; write a preset YAML per budget.

        Args:
            ckpt_path: the checkpoint (its EMA weights are sampled).
            budgets: NFE budgets, e.g. ``50,100,200``; every candidate's plan spends at most the budget.
            family: restart, edm_sde, heun, dpmpp_2m, euler, euler_maruyama or euler_ancestral.
            metric: any metric of the evaluation (default: kl for toy data with a known density, else
                the evaluation's first, fid for images); lower-is-better metrics are minimised, the others maximised.
            output_dir: presets, table, journal (default: <default_root_dir>/tune/<family>); a rerun resumes there.
            samples_per_rung: samples of each successive-halving rung (docs/tuning.md: how they were chosen).
            candidates: specs at the first rung (default: per family, 48 for restart).
            reduction: the best 1 / reduction of a rung go on to the next.
            num_blocks: seed blocks of the last rung's seeds on which the winner's spread is measured.
            seed_start: first tuning seed (10**9: disjoint from the evaluation seeds 0..n-1).
            band: the sigma band of the model's error: ``low,high`` or the ``error_profile.json`` that ``diagnose``
                wrote; null: a guess from sigma_data ([0.03, 0.3] sigma_data).
            batch_size: samples per sampler call (default: the evaluation callback's, else 10000).
            search_seed: seed of optuna's TPE proposals (runs with other seeds explore other candidates).
            searches: independent races per budget (TPE seeds search_seed, search_seed + 1, ...); the
                winners meet on the last rung's shared seeds and the best is kept (one race varies a lot).
        Returns one record per budget (the completion files' content).
        """
        from restart_lightning.callbacks import SamplerEvaluation
        from restart_lightning.tuning.race import import_optuna
        from restart_lightning.tuning.tune import check_output_dir, parse_settings
        from restart_lightning.tuning.tune_run import TuneCallback

        settings = parse_settings(family, budgets, metric, samples_per_rung, candidates, reduction, num_blocks,
                                  seed_start, band, search_seed, searches)
        _check_batch_size(batch_size)
        import_optuna()  # the one-line install hint before anything runs
        folder = Path(output_dir) if output_dir else Path(self.default_root_dir) / "tune" / settings.family
        check_output_dir(folder, settings)
        evaluations = [c for c in self.callbacks if isinstance(c, SamplerEvaluation)]
        evaluation = {}
        if evaluations:  # the metric suite as the experiment's evaluation builds it
            first = evaluations[0]
            evaluation = {"feature_extractor": first.feature_extractor, "inception_weights": first.inception_weights,
                          "reference_stats": first.reference_stats,
                          "num_reference_samples": first.num_reference_samples,
                          "dinov2_weights": first.dinov2_weights}
            batch_size = batch_size or first.batch_size
        callback = TuneCallback(settings, folder, ckpt_path, batch_size or DEFAULT_TUNE_BATCH_SIZE, evaluation)
        saved = list(self.callbacks), self.limit_test_batches
        # The configured evaluations would sample their own samplers: off while tuning; one test batch.
        self.callbacks = [c for c in self.callbacks if not isinstance(c, SamplerEvaluation)] + [callback]
        self.limit_test_batches = 1
        try:
            self.test(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
        finally:
            self.callbacks, self.limit_test_batches = saved
        return callback.records

    def _load_weights(self, model: LightningModule, ckpt_path: str) -> int:
        """Load the checkpoint's weights (``weights_only``; one-line errors for bad files); returns its step."""
        from restart_lightning.reliability.safe_load import check_state_dict_matches, load_checkpoint_file

        checkpoint = load_checkpoint_file(ckpt_path)
        check_state_dict_matches(checkpoint, model, ckpt_path)
        model.on_load_checkpoint(checkpoint)
        model.load_state_dict(checkpoint["state_dict"], strict=False)
        return int(checkpoint.get("global_step", 0))

    def _device(self) -> torch.device:
        try:
            return self.strategy.root_device
        except Exception:  # a strategy that only knows its device once launched
            return torch.device("cpu")

    def _hybrid(self, model, denoiser, mixture, datamodule, sampler, n, cuts, sigmas, batch_size, device):
        cuts = cuts or default_cuts(sigmas[0], sigmas[-1])
        reference = datamodule.reference_samples(n)  # the sampler evaluation's reference points
        data_samples = datamodule.reference_samples(n, seed=3)  # the metrics' floor: other fresh points
        plan = sampler.plan(denoiser)
        say(self, f"hybrid test: {2 + 2 * len(cuts)} runs of {n} samples, {plan.summary()}")
        return run_hybrid(
            denoiser, mixture.denoiser(), sampler, cuts, metrics=toy_metrics(mixture, reference),
            data_samples=data_samples, num_samples=n, shape=tuple(datamodule.data_shape), batch_size=batch_size,
            device=device, progress=lambda line: say(self, line))

    def _report(self, profile: ErrorProfile, band: tuple[float, float], share: float, split: HybridSplit | None,
                directory: Path) -> None:
        """Print the tables; write the PNG, the JSON and the tables; log the curves to the loggers."""
        table = profile_table(profile)
        band_line = (f"error band ({100 * share:g}% of the {'excess' if profile.exact_loss else ''} error mass): "
                     f"sigma {band[0]:.4g} to {band[1]:.4g} (n = {profile.num_samples})").replace("  ", " ")
        text = f"Error profile, n = {profile.num_samples}:\n\n{table}\n\n{band_line}"
        if split is not None:
            text += (f"\n\nHybrid test ({split.sampler}; n = {split.num_samples} per run, {split.nfe} NFE):\n\n"
                     f"{hybrid_table(split)}")
        say(self, text)
        directory.mkdir(parents=True, exist_ok=True)
        image = error_profile_image(profile, band if profile.exact_loss is not None else None)
        image.save(directory / "error_profile.png")
        (directory / "error_profile.md").write_text(text + "\n")
        record: dict[str, Any] = {"profile": profile.to_dict(), "band": list(band), "band_share": share,
                                  "hybrid": split.to_dict() if split is not None else None}
        (directory / "error_profile.json").write_text(json.dumps(record, indent=1, allow_nan=True) + "\n")
        excess = profile.excess()
        for i, sigma in enumerate(profile.sigmas):
            values = {"diagnose/log10_sigma": math.log10(sigma), "diagnose/loss": profile.loss[i]}
            if profile.exact_loss is not None:
                values.update({"diagnose/exact_loss": profile.exact_loss[i], "diagnose/excess": excess[i]})
            for logger in self.loggers:
                logger.log_metrics(values, step=i)
        if split is not None:
            for i, cut in enumerate(split.cuts):
                values = {f"diagnose_hybrid/{m}_learned_above": split.learned_above[i][m] for m in split.metrics}
                values.update({f"diagnose_hybrid/{m}_learned_below": split.learned_below[i][m] for m in split.metrics})
                values["diagnose_hybrid/log10_cut"] = math.log10(cut)
                for logger in self.loggers:
                    logger.log_metrics(values, step=i)
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("diagnose/error_profile", image_tensor(image), 0)
            logger.save()
            logger.finalize("success")
        say(self, f"wrote {directory / 'error_profile.png'}, error_profile.md and error_profile.json")


__all__ = ["TUNING_SUBCOMMANDS", "Diagnosis", "TuningTrainer"]
