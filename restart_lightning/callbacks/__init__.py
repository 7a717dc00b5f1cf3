"""Lightning callbacks that run around training: sampler evaluation (metrics, pictures, sample files)."""

from restart_lightning.callbacks.prediction_writer import PredictionWriter
from restart_lightning.callbacks.sampler_evaluation import SamplerEvaluation

__all__ = ["PredictionWriter", "SamplerEvaluation"]
