"""Data: 2-D toy distributions (with exact densities and denoisers) and image datamodules."""

from restart_lightning.data.toy import TOY_DISTRIBUTIONS, GaussianMixture, grid_mixture, ring_mixture, sample_toy
from restart_lightning.data.toy_datamodule import ToyDataModule

__all__ = ["TOY_DISTRIBUTIONS", "GaussianMixture", "ToyDataModule", "grid_mixture", "ring_mixture", "sample_toy"]
