"""Data: 2-D toy distributions (with exact densities and denoisers) and image datamodules."""

from restart_lightning.data.cifar10 import CIFAR10DataModule
from restart_lightning.data.digits import DigitsDataModule
from restart_lightning.data.evaluation_datamodule import EvaluationDataModule
from restart_lightning.data.image_datamodule import ImageDataModule
from restart_lightning.data.image_folder import ImageFolderDataModule
from restart_lightning.data.toy import TOY_DISTRIBUTIONS, GaussianMixture, grid_mixture, ring_mixture, sample_toy
from restart_lightning.data.toy_datamodule import ToyDataModule

__all__ = [
    "TOY_DISTRIBUTIONS", "CIFAR10DataModule", "DigitsDataModule", "EvaluationDataModule", "GaussianMixture",
    "ImageDataModule", "ImageFolderDataModule", "ToyDataModule", "grid_mixture", "ring_mixture", "sample_toy",
]
