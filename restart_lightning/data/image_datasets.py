"""Map-style image datasets yielding ``(image, label)``: float32 ``[C, H, W]`` in [-1, 1], int64 label.

A label of -1 means "no label". An item is asked for by its index, or by ``(index, flip)``: the
training sampler (``resumable_sampler.ResumableSampler``) decides the flips, so that they are a
function of the position in the epoch. Asked for by index alone, a dataset made with
``random_flip`` draws the flip from torch's global generator.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from restart_lightning.pixels import from_uint8

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFileDataset",
    "Selection",
    "check_image_files",
    "TensorImageDataset",
    "list_image_files",
    "load_image",
    "to_unit_range",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")

ImageItem = tuple[torch.Tensor, torch.Tensor]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]; float input is assumed to be in [-1, 1] already."""
    if images.dtype == torch.uint8:
        return from_uint8(images)
    return images.to(torch.float32)


def _split_item(item: int | tuple[int, bool], random_flip: bool) -> tuple[int, bool]:
    """(index, flip) of a requested item: given by the sampler, or drawn now if only the index is."""
    if isinstance(item, (tuple, list)):
        return int(item[0]), bool(item[1])
    return item, bool(random_flip and torch.rand(()) < 0.5)


class Selection(Dataset[ImageItem]):
    """The items ``indices`` of ``dataset`` (like ``Subset``, but passing ``(index, flip)`` requests on)."""

    def __init__(self, dataset: Dataset[ImageItem], indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int | tuple[int, bool]) -> ImageItem:
        if isinstance(item, (tuple, list)):
            return self.dataset[(self.indices[int(item[0])], bool(item[1]))]
        return self.dataset[self.indices[item]]


class TensorImageDataset(Dataset[ImageItem]):
    """Images held in memory: ``images`` uint8 (or float in [-1, 1]) ``[N, C, H, W]``, ``labels`` ``[N]``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None, random_flip: bool = False) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
        if labels is None:
            labels = torch.full((images.shape[0],), -1, dtype=torch.long)
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape [{images.shape[0]}], got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.to(torch.long)
        self.random_flip = random_flip

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, item: int | tuple[int, bool]) -> ImageItem:
        index, flip = _split_item(item, self.random_flip)
        image = to_unit_range(self.images[index])
        return (image.flip(-1) if flip else image), self.labels[index]


def load_image(path: str | os.PathLike, resolution: int, channels: int = 3) -> torch.Tensor:
    """Read an image file, resize its shorter side to ``resolution`` (Lanczos) and center-crop
    to ``resolution x resolution``; returns uint8 ``[channels, resolution, resolution]``."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    try:
        return _load_image(path, resolution, channels)
    except (OSError, ValueError, Image.DecompressionBombError) as error:  # PIL's UnidentifiedImageError is an OSError
        raise ValueError(
            f"data.root: '{path}' is not a readable image ({type(error).__name__}: {str(error)[:200]}); "
            "remove or replace the file"
        ) from None


def _load_image(path: str | os.PathLike, resolution: int, channels: int) -> torch.Tensor:
    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        w, h = img.size
        scale = resolution / min(w, h)
        new_w, new_h = max(resolution, round(w * scale)), max(resolution, round(h * scale))
        img = img.resize((new_w, new_h), Image.Resampling.LANCZOS)
        left, top = (new_w - resolution) // 2, (new_h - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
        array = np.asarray(img, dtype=np.uint8).reshape(resolution, resolution, channels)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def check_image_files(files: Sequence[str | os.PathLike]) -> None:
    """ValueError naming the first file PIL cannot identify as an image (reads each file's header only)."""
    for path in files:
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - the header is parsed on open; size proves it was understood
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise ValueError(
                f"data.root: '{path}' is not a readable image ({type(error).__name__}: {str(error)[:200]}); remove "
                "or replace the file (data.verify_files false skips this check)"
            ) from None


def list_image_files(root: str | os.PathLike, class_subfolders: bool) -> tuple[list[Path], list[int], list[str]]:
    """Image files under ``root`` (recursive, sorted) with their labels and the class names.

    With ``class_subfolders`` every immediate subfolder of ``root`` is one class (sorted by name,
    label = index) and files directly in ``root`` are ignored; without, all labels are -1.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found: {root.resolve()} does not exist or is not a directory.")

    def images_in(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

    if not class_subfolders:
        files = images_in(root)
        return files, [-1] * len(files), []
    class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    files, labels = [], []
    for label, name in enumerate(class_names):
        found = images_in(root / name)
        files += found
        labels += [label] * len(found)
    return files, labels, class_names


class ImageFileDataset(Dataset[ImageItem]):
    """Images read lazily from files, resized and center-cropped to ``resolution``."""

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        labels: Sequence[int] | None = None,
        resolution: int = 64,
        channels: int = 3,
        random_flip: bool = False,
    ) -> None:
        self.files = [Path(f) for f in files]
        self.labels = torch.as_tensor(list(labels) if labels is not None else [-1] * len(self.files), dtype=torch.long)
        if self.labels.shape != (len(self.files),):
            raise ValueError("files and labels must have the same length")
        self.resolution = resolution
        self.channels = channels
        self.random_flip = random_flip

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: int | tuple[int, bool]) -> ImageItem:
        index, flip = _split_item(item, self.random_flip)
        image = to_unit_range(load_image(self.files[index], self.resolution, self.channels))
        return (image.flip(-1) if flip else image), self.labels[index]
