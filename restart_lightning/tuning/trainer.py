"""``TuningTrainer``: Lightning's Trainer with the tuning subcommands as methods (LightningCLI runs
``trainer.<subcommand>(model=..., datamodule=..., **arguments)``; the arguments are the method's
typed parameters, so the command line refuses bad values while parsing).

- ``diagnose``: where a checkpoint's error lives (``tuning.error_profile``, ``tuning.hybrid``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger

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

# Subcommand -> the method arguments the CLI fills in itself (LightningCLI.subcommands()'s format).
TUNING_SUBCOMMANDS: dict[str, set[str]] = {"diagnose": {"model", "datamodule"}}
MIN_HYBRID_SAMPLES = 6  # the kNN entropy of the KL metric needs more than k = 5 samples


@dataclass(frozen=True)
class Diagnosis:
    """What ``diagnose`` measured and where it wrote it."""

    profile: ErrorProfile
    band: tuple[float, float]
    hybrid: HybridSplit | None
    directory: Path


def _say(trainer: Trainer, line: str) -> None:
    if trainer.is_global_zero:
        print(line, flush=True)


class _Progress:
    """One line at every eighth of the work (no progress bar exists outside Lightning's loops)."""

    def __init__(self, trainer: Trainer, what: str) -> None:
        self.trainer, self.what, self.shown = trainer, what, 0

    def __call__(self, done: int, total: int) -> None:
        eighth = done * 8 // total
        if eighth > self.shown:
            self.shown = eighth
            _say(self.trainer, f"{self.what}: {100 * done // total}% ({done}/{total} batches)")


class TuningTrainer(Trainer):
    """A Trainer that also diagnoses a checkpoint (``main.py diagnose``)."""

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
        _say(self, f"diagnose {ckpt_path} (step {step}, {weights}): {source} x {noise_per_point} noise draw(s), "
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
        _say(self, f"hybrid test: {2 + 2 * len(cuts)} runs of {n} samples, {plan.summary()}")
        return run_hybrid(
            denoiser, mixture.denoiser(), sampler, cuts, metrics=toy_metrics(mixture, reference),
            data_samples=data_samples, num_samples=n, shape=tuple(datamodule.data_shape), batch_size=batch_size,
            device=device, progress=lambda line: _say(self, line))

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
        _say(self, text)
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
        _say(self, f"wrote {directory / 'error_profile.png'}, error_profile.md and error_profile.json")


__all__ = ["TUNING_SUBCOMMANDS", "Diagnosis", "TuningTrainer"]
