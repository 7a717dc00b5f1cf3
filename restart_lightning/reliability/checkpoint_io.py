"""Checkpoint files that a kill cannot corrupt, loaded without unpickling arbitrary objects.

``AtomicCheckpointIO`` is the CLI's default checkpoint plugin: every checkpoint (``last.ckpt``,
``step*.ckpt``, the preemption and SLURM ``hpc_ckpt_*`` files) is written to a temporary file in
the same directory, fsync'ed, then renamed over the target with ``os.replace``; a kill at any
moment leaves either the old file or the new one, never a torn one. Loading goes through
``safe_load.load_checkpoint_file`` (``weights_only=True`` unless asked otherwise, one-line errors).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from restart_lightning.reliability.safe_load import load_checkpoint_file


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same directory, fsync and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer that was killed
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:  # "x": never reuse a file; permissions follow the umask
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)  # make the rename itself durable
    return path


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic local writes and safe, clearly failing loads.

    Remote paths (``s3://``, ...) keep Lightning's own transactional write.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(
        self,
        path,
        map_location: Optional[Callable] = lambda storage, loc: storage,
        weights_only: Optional[bool] = None,
    ) -> dict[str, Any]:
        if weights_only is False:
            rank_zero_warn(f"Loading {path} with weights_only=False: the file may run arbitrary code when unpickled.")
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().load_checkpoint(path, map_location, True if weights_only is None else weights_only)
        return load_checkpoint_file(path, map_location=map_location, weights_only=weights_only is not False)
