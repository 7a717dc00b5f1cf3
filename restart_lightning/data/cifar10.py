"""CIFAR-10 (32x32 RGB, 10 classes) from a local copy of the official python-format archive.

The files (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``, ``batches.meta``) are pickles
holding ``b"data"`` (uint8 ``[N, 3072]``: 1024 red, 1024 green, 1024 blue values, row-major
32x32) and ``b"labels"``. A pickle can run code when it is loaded, so the files are
- checked against the official archive's MD5 sums (torchvision's ``CIFAR10`` lists) before
  anything reads them (``verify_checksums=False`` skips this for a modified copy), and
- always read with ``safe_pickle.load_numeric_pickle``, which refuses any Python object other
  than a NumPy array's parts without running it.
``download=True`` fetches and verifies the archive with ``torchvision.datasets.CIFAR10``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from restart_lightning.constraints import NonNegativeInteger, PositiveInteger, Seed, check_arguments
from restart_lightning.data.image_datamodule import ImageDataModule
from restart_lightning.data.image_datasets import TensorImageDataset
from restart_lightning.data.safe_pickle import load_numeric_pickle

__all__ = ["CIFAR10_URL", "CIFAR10DataModule", "find_cifar10_folder", "load_cifar10_batches"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_FOLDER = "cifar-10-batches-py"
_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_FILES = ("test_batch",)


def find_cifar10_folder(root: str | Path) -> Path | None:
    """``root/cifar-10-batches-py`` (or ``root`` itself) if it holds all CIFAR-10 batch files."""
    root = Path(root)
    for folder in (root / _FOLDER, root):
        if all((folder / name).is_file() for name in _TRAIN_FILES + _TEST_FILES):
            return folder
    return None


def _missing_message(root: str | Path) -> str:
    folder = (Path(root) / _FOLDER).resolve()
    return (
        f"CIFAR-10 not found: looked for {folder}/{{data_batch_1..5,test_batch}} "
        f"(and for those files directly in {Path(root).resolve()}). Download {CIFAR10_URL} and extract it "
        f"into {Path(root).resolve()} (so that {folder} exists), or pass download=True "
        f"(command line: --data.download true)."
    )


def official_checksums() -> dict[str, str]:
    """File name -> MD5 of the official python-format archive (torchvision's own list)."""
    from torchvision.datasets import CIFAR10

    return {name: md5 for name, md5 in CIFAR10.train_list + CIFAR10.test_list} | {
        CIFAR10.meta["filename"]: CIFAR10.meta["md5"]
    }


def verify_cifar10_files(folder: str | Path) -> None:
    """ValueError naming the first batch file whose MD5 is not the official one (nothing is unpickled)."""
    from torchvision.datasets.utils import calculate_md5

    for name, md5 in official_checksums().items():
        path = Path(folder) / name
        if not path.is_file():
            continue  # batches.meta is optional; the batch files were found before
        actual = calculate_md5(path)
        if actual != md5:
            raise ValueError(
                f"data.root: '{path}' is not the official CIFAR-10 file (MD5 {actual}, expected {md5}), so it is not "
                f"read; re-extract {CIFAR10_URL}, or set data.verify_checksums false for a modified copy (its pickles "
                "are then still read without running any code)"
            )


def _unpickle(path: Path) -> dict:
    try:
        obj = load_numeric_pickle(path)
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError) as error:
        raise ValueError(f"data.root: '{path}' is not a readable CIFAR-10 batch file ({error})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"data.root: '{path}' is not a CIFAR-10 batch file (a {type(obj).__name__}, not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def load_cifar10_batches(folder: str | Path, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate batch files: uint8 images ``[N, 3, 32, 32]`` and int64 labels ``[N]``."""
    images, labels = [], []
    for name in names:
        path = Path(folder) / name
        batch = _unpickle(path)
        try:
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch["labels"], dtype=np.int64).reshape(-1))
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(
                f"data.root: '{path}' is not a CIFAR-10 batch file ({type(error).__name__}: {error})"
            ) from None
        if len(images[-1]) != len(labels[-1]):
            raise ValueError(f"data.root: '{path}' holds {len(images[-1])} images but {len(labels[-1])} labels")
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10: trains on the 50,000 training images, validates/tests on the 10,000 test images;
    reference data for FID = the training images (no flips).

    Args:
        root: folder containing ``cifar-10-batches-py`` (or that folder itself).
        batch_size: batch size of every loader.
        num_workers: DataLoader workers (0 on CPU).
        download: fetch the archive into ``root`` in :meth:`prepare_data` if it is missing.
        random_flip: random horizontal flips of training images.
        use_labels: pass class labels through (``num_classes`` = 10); otherwise labels are -1.
        seed: seed of :meth:`reference_images`.
        num_predict_samples: samples generated by ``main.py predict`` (seeds 0..n-1).
        verify_checksums: refuse files whose MD5 is not that of the official archive (before reading).
    """

    def __init__(
        self,
        root: str = "data/cifar10",
        batch_size: PositiveInteger = 128,
        num_workers: NonNegativeInteger = 0,
        download: bool = False,
        random_flip: bool = True,
        use_labels: bool = True,
        seed: Seed = 0,
        num_predict_samples: PositiveInteger = 1000,
        verify_checksums: bool = True,
    ) -> None:
        super().__init__(
            batch_size=batch_size, num_workers=num_workers, random_flip=random_flip, seed=seed,
            num_predict_samples=num_predict_samples,
        )
        self.save_hyperparameters()
        check_arguments(CIFAR10DataModule.__init__, locals(), "data")
        self.root = root
        self.download = download
        self.use_labels = use_labels
        self.verify_checksums = verify_checksums
        self._verified = False
        if not download:
            self._require_data()  # missing or altered files are refused before the run writes anything

    @property
    def data_shape(self) -> tuple[int, int, int]:
        return (3, 32, 32)

    @property
    def num_classes(self) -> int:
        return 10 if self.use_labels else 0

    @property
    def class_names(self) -> list[str]:
        """Class names from ``batches.meta`` (generic names if the file is absent)."""
        folder = self._require_data()
        meta = folder / "batches.meta"
        if not meta.is_file():
            return [f"class_{i}" for i in range(10)]
        return [n.decode() if isinstance(n, bytes) else str(n) for n in _unpickle(meta)["label_names"]]

    def _require_data(self) -> Path:
        folder = find_cifar10_folder(self.root)
        if folder is None:
            raise FileNotFoundError(_missing_message(self.root))
        if self.verify_checksums and not self._verified:
            verify_cifar10_files(folder)
            self._verified = True
        return folder

    def _data_available(self) -> bool:
        return find_cifar10_folder(self.root) is not None

    def prepare_data(self) -> None:
        if self.download and find_cifar10_folder(self.root) is None:
            import torchvision

            torchvision.datasets.CIFAR10(self.root, train=True, download=True)
        self._require_data()

    def _make_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        folder = self._require_data()
        train_x, train_y = load_cifar10_batches(folder, _TRAIN_FILES)
        test_x, test_y = load_cifar10_batches(folder, _TEST_FILES)
        if not self.use_labels:
            train_y, test_y = torch.full_like(train_y, -1), torch.full_like(test_y, -1)
        train = TensorImageDataset(train_x, train_y, random_flip=self.random_flip)
        reference = TensorImageDataset(train_x, train_y, random_flip=False)
        return train, TensorImageDataset(test_x, test_y), reference
