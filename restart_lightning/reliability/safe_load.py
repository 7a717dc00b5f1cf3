"""Loading checkpoint files safely: ``weights_only=True``, and one clear line for every bad file.

A file that is not a checkpoint, a truncated one, one holding pickled Python objects, or one
written for another model configuration raises ``CheckpointError`` naming the file and the
problem, before Lightning starts (instead of a crash deep inside ``torch.load`` or
``load_state_dict``).
"""

from __future__ import annotations

import inspect
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from restart_lightning.reliability.errors import CheckpointError

# What a checkpoint written by Lightning's Trainer always holds.
REQUIRED_KEYS = ("state_dict", "global_step")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def load_checkpoint_file(
    path: str | os.PathLike,
    map_location: Any = "cpu",
    weights_only: bool = True,
    mmap: bool = False,
    field: str = "ckpt_path",
) -> dict[str, Any]:
    """The checkpoint dict in ``path``; raises ``CheckpointError`` (one line) if it is not one.

    ``mmap=True`` maps the tensors instead of reading them (a cheap check of a large file).
    """
    path = Path(path)
    checkpoint = load_torch_file(path, field, map_location, weights_only, mmap)
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        what = "a bare state_dict" if isinstance(checkpoint, dict) else f"a {type(checkpoint).__name__}"
        raise CheckpointError(
            f"{field}: '{path}' is not a Lightning checkpoint (it is {what} without "
            f"{' and '.join(repr(k) for k in REQUIRED_KEYS)})"
        )
    return checkpoint


def load_torch_file(path: str | os.PathLike, field: str, map_location: Any = "cpu", weights_only: bool = True,
                    mmap: bool = False, what: str = "checkpoint") -> Any:
    """``torch.load`` of a file a user points at (a checkpoint, a weights file), or one ``CheckpointError`` line."""
    path = Path(path)
    _check_file(path, field, what)
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=weights_only, mmap=mmap)
        except RuntimeError as error:
            if not (mmap and "mmap can only be used" in str(error)):
                raise
            return torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" in str(error):
            raise CheckpointError(
                f"{field}: '{path}' holds pickled Python objects, which are never loaded (weights_only=True): "
                f"it is not a plain {what} file"
            ) from None
        raise CheckpointError(f"{field}: '{path}' is not a PyTorch {what} ({_first_line(error)})") from None
    except Exception as error:  # torch.load fails in many ways on truncated or foreign files
        raise CheckpointError(
            f"{field}: '{path}' is not a readable {what}: truncated, corrupt or another file format "
            f"({type(error).__name__}: {_first_line(error)})"
        ) from None


def _check_file(path: Path, field: str, what: str = "checkpoint") -> None:
    if not path.exists():
        raise CheckpointError(f"{field}: no {what} file at '{path}'")
    if path.is_dir():
        raise CheckpointError(f"{field}: '{path}' is a directory, not a {what} file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{field}: '{path}' is empty (0 bytes), not a {what}")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as error:
        raise CheckpointError(f"{field}: '{path}' cannot be read ({error.strerror or error})") from None
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch.save: a zip archive (or a pickle)
        raise CheckpointError(
            f"{field}: '{path}' is not a PyTorch {what} file (neither a zip archive nor a pickle)"
        )


def check_hyperparameters(checkpoint: dict[str, Any], module_class: type, path: str | os.PathLike,
                          field: str = "ckpt_path") -> None:
    """Refuse a checkpoint whose saved hyperparameters are not arguments of ``module_class``, or are values
    its typed constraints refuse (``restart_lightning.constraints``: e.g. a NaN EMA half-life)."""
    hparams = checkpoint.get("hyper_parameters") or {}
    class_path = hparams.get("_class_path")
    if class_path is not None and str(class_path).rsplit(".", 1)[-1] != module_class.__name__:
        raise CheckpointError(f"{field}: '{path}' was written by another model ({class_path}), not "
                              f"{module_class.__name__}")
    allowed = set(inspect.signature(module_class.__init__).parameters) - {"self"}
    unknown = sorted(k for k in hparams if not k.startswith("_") and k not in allowed)
    if unknown:
        raise CheckpointError(
            f"{field}: '{path}' was written by another model (hyperparameters {', '.join(unknown)} are not "
            f"arguments of {module_class.__name__}); allowed: {', '.join(sorted(allowed))}"
        )
    if module_class is not object:
        from restart_lightning.constraints import check_arguments

        try:
            check_arguments(module_class.__init__, hparams, "model")
        except ValueError as error:
            raise CheckpointError(f"{field}: '{path}' holds hyperparameters that are refused ({error})") from None


def check_state_dict_matches(checkpoint: dict[str, Any], module: nn.Module, path: str | os.PathLike,
                             field: str = "ckpt_path") -> None:
    """Refuse a checkpoint whose tensors do not fit ``module`` (names and shapes), in one line."""
    from restart_lightning.reliability.resume import metric_state_prefixes

    saved = checkpoint["state_dict"]
    expected = module.state_dict()
    optional = tuple(metric_state_prefixes(module))  # metric sums, filled in by older checkpoints' loads
    missing = [k for k in expected if k not in saved and not (optional and k.startswith(optional))]
    unexpected = [k for k in saved if k not in expected]
    resized = [
        f"{k}: checkpoint {list(saved[k].shape)} vs model {list(v.shape)}"
        for k, v in expected.items()
        if k in saved and isinstance(saved[k], torch.Tensor) and tuple(saved[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or resized):
        return
    parts = []
    if resized:
        parts.append(f"{len(resized)} tensor(s) of another shape (first {resized[0]})")
    if missing:
        parts.append(f"{len(missing)} missing (first {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first {unexpected[0]})")
    raise CheckpointError(
        f"{field}: '{path}' does not match this model configuration: {'; '.join(parts)}; "
        "use the config the checkpoint was trained with"
    )
