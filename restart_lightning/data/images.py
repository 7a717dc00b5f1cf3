"""Image LightningDataModules: CIFAR-10, any image folder, scikit-learn's 8x8 digits.

Every one yields batches ``(images, labels)`` with images float32 ``[B, C, H, W]`` in [-1, 1]
and labels int64 ``[B]`` (-1 = no label), and exposes ``data_shape``, ``num_classes``,
``reference_dataloader()`` and ``reference_images(n)`` for metric reference statistics.
"""

from restart_lightning.data.cifar10 import CIFAR10_URL, CIFAR10DataModule
from restart_lightning.data.digits import DigitsDataModule
from restart_lightning.data.image_datamodule import ImageDataModule
from restart_lightning.data.image_folder import ImageFolderDataModule

__all__ = ["CIFAR10_URL", "CIFAR10DataModule", "DigitsDataModule", "ImageDataModule", "ImageFolderDataModule"]
