"""Image datamodules on tiny data written by the tests: CIFAR-10 python format, PNG folders, digits."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restart_lightning.data import CIFAR10DataModule, DigitsDataModule, ImageFolderDataModule
from restart_lightning.data.cifar10 import CIFAR10_URL

N_PER_BATCH = 4


def write_cifar10(root: Path) -> dict[str, np.ndarray]:
    """The official layout with N_PER_BATCH images per file; returns the raw train data/labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    raw = {"data": [], "labels": []}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(N_PER_BATCH, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=N_PER_BATCH).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * N_PER_BATCH}, f)
        if name != "test_batch":
            raw["data"].append(data)
            raw["labels"] += labels
    names = [n.encode() for n in "airplane automobile bird cat deer dog frog horse ship truck".split()]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": N_PER_BATCH}, f)
    return {"data": np.concatenate(raw["data"]), "labels": np.array(raw["labels"])}


def check_batch(images: torch.Tensor, labels: torch.Tensor, shape: tuple[int, ...], batch: int) -> None:
    assert images.shape == (batch, *shape) and images.dtype == torch.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert labels.shape == (batch,) and labels.dtype == torch.int64


def test_cifar10_reads_the_python_format(tmp_path):
    raw = write_cifar10(tmp_path)
    dm = CIFAR10DataModule(root=str(tmp_path), batch_size=5, random_flip=False, verify_checksums=False)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.data_shape == (3, 32, 32) and dm.num_classes == 10
    assert dm.class_names[0] == "airplane"
    images, labels = next(iter(dm.train_dataloader()))
    check_batch(images, labels, (3, 32, 32), 5)
    assert len(dm.val_dataloader().dataset) == N_PER_BATCH
    # Reference data: every training image, in file order; channel-planar row-major pixels.
    ref_images, ref_labels = map(torch.cat, zip(*dm.reference_dataloader(batch_size=7)))
    assert ref_images.shape == (5 * N_PER_BATCH, 3, 32, 32)
    assert torch.equal(ref_labels, torch.as_tensor(raw["labels"]))
    pixel = raw["data"][5, 1024 + 32 * 2 + 7]  # green channel, row 2, column 7 of image 5
    assert ref_images[5, 1, 2, 7].item() == pytest.approx(pixel / 127.5 - 1)
    ref = dm.reference_images(6, seed=3)
    assert ref.shape == (6, 3, 32, 32)
    assert torch.equal(ref, dm.reference_images(6, seed=3))


def test_cifar10_flips_and_unlabelled_mode(tmp_path):
    write_cifar10(tmp_path)
    torch.manual_seed(0)
    dm = CIFAR10DataModule(root=str(tmp_path / "cifar-10-batches-py"), batch_size=20, use_labels=False,
                           verify_checksums=False)
    images, labels = next(iter(dm.train_dataloader()))
    assert dm.num_classes == 0 and (labels == -1).all()
    # With random_flip every training image equals a reference image or its mirror.
    reference = dm.reference_images(20)
    flat = lambda t: {tuple(v.tolist()) for v in t.flatten(1)}  # noqa: E731
    assert flat(images) <= flat(reference) | flat(reference.flip(-1))
    assert flat(images) != flat(reference)  # some were flipped (probability 1 - 2^-20)


def test_cifar10_missing_root_names_the_path_and_the_remedy(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as err:
        CIFAR10DataModule(root=str(root))
    message = str(err.value)
    assert str((root / "cifar-10-batches-py").resolve()) in message
    assert CIFAR10_URL in message and "--data.download true" in message
    dm = CIFAR10DataModule(root=str(root), download=True)  # checked later, when the data is needed
    with pytest.raises(FileNotFoundError, match=re.escape(str(root.resolve()))):
        dm.setup("fit")


def write_pngs(root: Path) -> None:
    rng = np.random.default_rng(0)
    for cls, (w, h) in {"cat": (20, 12), "dog": (9, 15)}.items():
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")


def test_image_folder_with_class_subfolders(tmp_path):
    write_pngs(tmp_path)
    dm = ImageFolderDataModule(root=str(tmp_path), resolution=8, batch_size=6, class_subfolders=True)
    assert dm.data_shape == (3, 8, 8) and dm.num_classes == 2 and dm.class_names == ["cat", "dog"]
    images, labels = next(iter(dm.train_dataloader()))
    check_batch(images, labels, (3, 8, 8), 6)
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert dm.reference_images(2).shape == (2, 3, 8, 8)


def test_image_folder_unlabelled_grayscale_with_validation_split(tmp_path):
    write_pngs(tmp_path)
    dm = ImageFolderDataModule(root=str(tmp_path), resolution=4, batch_size=2, channels=1, val_fraction=0.34, seed=1)
    assert dm.num_classes == 0 and dm.data_shape == (1, 4, 4)
    dm.setup("fit")
    assert len(dm.train_dataloader().dataset) == 4 and len(dm.val_dataloader().dataset) == 2
    assert len(dm.reference_dataloader().dataset) == 6
    images, labels = next(iter(dm.val_dataloader()))
    check_batch(images, labels, (1, 4, 4), 2)
    assert (labels == -1).all()


def test_image_folder_missing_root(tmp_path):
    root = tmp_path / "no_images_here"
    with pytest.raises(FileNotFoundError, match=re.escape(str(root.resolve()))):
        ImageFolderDataModule(root=str(root))
    root.mkdir()
    with pytest.raises(FileNotFoundError, match="No image files"):
        ImageFolderDataModule(root=str(root))


@pytest.mark.parametrize("resolution", [8, 16])
def test_digits(resolution):
    dm = DigitsDataModule(resolution=resolution, batch_size=64, val_fraction=0.1)
    assert dm.data_shape == (1, resolution, resolution) and dm.num_classes == 10
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    check_batch(images, labels, (1, resolution, resolution), 64)
    assert labels.min() >= 0 and labels.max() <= 9
    assert len(dm.val_dataloader().dataset) == 180 and len(dm.reference_dataloader().dataset) == 1797
    ref = dm.reference_images(500)
    assert ref.min() == -1.0 and ref.max() == 1.0  # background is -1, full ink is +1
    assert not dm.random_flip
