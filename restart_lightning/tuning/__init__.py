"""Sampler tuning for a trained model: where its error lives (``diagnose``) and which sampler settings win.

- ``error_profile``: the training-weighted denoising loss per sigma on held-out data (EMA weights),
  with the exact denoiser's loss where it is known, and the band where the excess error concentrates;
- ``hybrid``: the hybrid test (learned denoiser above a sigma cut, exact below, and the reverse), which
  splits a sampler's error into discretization and approximation per sigma band;
- ``trainer``: ``TuningTrainer``, whose methods are the ``diagnose`` subcommand of the command line.
"""

from restart_lightning.tuning.error_profile import ErrorProfile, default_sigma_grid, error_band, measure_error_profile
from restart_lightning.tuning.hybrid import HybridSplit, SwitchedDenoiser, default_cuts, run_hybrid, toy_metrics
from restart_lightning.tuning.trainer import Diagnosis, TuningTrainer

__all__ = [
    "Diagnosis",
    "ErrorProfile",
    "HybridSplit",
    "SwitchedDenoiser",
    "TuningTrainer",
    "default_cuts",
    "default_sigma_grid",
    "error_band",
    "measure_error_profile",
    "run_hybrid",
    "toy_metrics",
]
