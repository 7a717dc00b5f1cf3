"""Short import path for the repository's configs and scripts: ``callbacks.SamplerEvaluation``.

The code lives in ``restart_lightning.callbacks`` (the name installed packages use, so that no
top-level ``callbacks`` package is installed); this folder is not part of the wheel.
"""

from restart_lightning.callbacks import PredictionWriter, SamplerEvaluation

__all__ = ["PredictionWriter", "SamplerEvaluation"]
