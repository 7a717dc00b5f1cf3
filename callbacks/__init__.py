"""Lightning callbacks that run around training: sampler evaluation (metrics, pictures, sample files)."""

from callbacks.prediction_writer import PredictionWriter
from callbacks.sampler_evaluation import SamplerEvaluation

__all__ = ["PredictionWriter", "SamplerEvaluation"]
