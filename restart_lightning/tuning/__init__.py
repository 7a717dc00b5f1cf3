"""Sampler tuning for a trained model: where its error lives (``diagnose``) and which sampler settings win.

- ``error_profile``: the training-weighted denoising loss per sigma on held-out data (EMA weights),
  with the exact denoiser's loss where it is known, and the band where the excess error concentrates;
- ``hybrid``: the hybrid test (learned denoiser above a sigma cut, exact below, and the reverse), which
  splits a sampler's error into discretization and approximation per sigma band;
- ``spaces``, ``race``: search spaces derived from the model and successive halving on optuna
  (``tune_family``, the Python API of ``tune``); ``tune``/``tune_run``: scoring with the evaluation's metrics,
  presets, resuming;
- ``trainer``: ``TuningTrainer``, whose methods are the ``diagnose`` and ``tune`` subcommands of the command line.
"""

from restart_lightning.tuning.error_profile import ErrorProfile, default_sigma_grid, error_band, measure_error_profile
from restart_lightning.tuning.hybrid import HybridSplit, SwitchedDenoiser, default_cuts, run_hybrid, toy_metrics
from restart_lightning.tuning.race import TUNING_SEED_START, TuneResult, tune_family
from restart_lightning.tuning.spaces import FAMILIES, ModelContext, Space, search_space
from restart_lightning.tuning.trainer import Diagnosis, TuningTrainer

__all__ = [
    "FAMILIES",
    "TUNING_SEED_START",
    "Diagnosis",
    "ErrorProfile",
    "HybridSplit",
    "ModelContext",
    "Space",
    "SwitchedDenoiser",
    "TuneResult",
    "TuningTrainer",
    "default_cuts",
    "default_sigma_grid",
    "error_band",
    "measure_error_profile",
    "run_hybrid",
    "search_space",
    "toy_metrics",
    "tune_family",
]
