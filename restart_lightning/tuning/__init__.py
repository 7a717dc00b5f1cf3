"""Sampler tuning for a trained model: where its error lives (``diagnose``) and which sampler settings win.

- ``error_profile``: the training-weighted denoising loss per sigma on held-out data (EMA weights),
  with the exact denoiser's loss where it is known, and the band where the excess error concentrates.
"""

from restart_lightning.tuning.error_profile import ErrorProfile, default_sigma_grid, error_band, measure_error_profile

__all__ = ["ErrorProfile", "default_sigma_grid", "error_band", "measure_error_profile"]
