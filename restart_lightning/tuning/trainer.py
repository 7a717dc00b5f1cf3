"""``TuningTrainer``: a Lightning Trainer with the tuning subcommands' methods (``tune``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import lightning.pytorch as pl

from restart_lightning.tuning.race import DEFAULT_NUM_BLOCKS, DEFAULT_REDUCTION, TUNING_SEED_START

DEFAULT_TUNE_BATCH_SIZE = 10_000


TUNE_ARGUMENTS = ("family", "budgets", "metric", "samples_per_rung", "candidates", "reduction", "num_blocks",
                  "seed_start", "band")


def check_tune_arguments(config: Any) -> None:
    """The ``tune`` subcommand's arguments as parsed (ValueError naming the field), before anything loads."""
    from restart_lightning.tuning.tune import parse_settings

    parse_settings(**{name: config.get(name) for name in TUNE_ARGUMENTS if config.get(name) is not None})
    _check_batch_size(config.get("batch_size"))


def _check_batch_size(batch_size: Any) -> None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: {batch_size!r} is invalid; allowed: an integer >= 1 (or null)")


class TuningTrainer(pl.Trainer):
    """``Trainer`` plus ``tune`` (``restart-lightning tune``)."""

    def tune(
        self,
        model: Optional[pl.LightningModule] = None,
        datamodule: Optional[pl.LightningDataModule] = None,
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
            band: the sigma band (low,high) of the model's error, from ``diagnose``; null: a guess from sigma_data.
            batch_size: samples per sampler call (default: the evaluation callback's, else 10000).
        Returns one record per budget (the completion files' content).
        """
        from restart_lightning.callbacks import SamplerEvaluation
        from restart_lightning.tuning.race import import_optuna
        from restart_lightning.tuning.tune import check_output_dir, parse_settings
        from restart_lightning.tuning.tune_run import TuneCallback

        settings = parse_settings(family, budgets, metric, samples_per_rung, candidates, reduction, num_blocks,
                                  seed_start, band)
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
