"""Checkpoint files that a kill cannot corrupt, loaded without unpickling arbitrary objects.

``AtomicCheckpointIO`` is the CLI's default checkpoint plugin: every checkpoint (``last.ckpt``,
``step*.ckpt``, the preemption and SLURM ``hpc_ckpt_*`` files) is written to a temporary file in
the same directory, fsync'ed, then renamed over the target with ``os.replace``; a kill at any
moment leaves either the old file or the new one, never a torn one. Loading goes through
``safe_load.load_checkpoint_file`` (``weights_only=True`` unless asked otherwise, one-line errors).
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from restart_lightning.reliability.errors import CheckpointWriteError, one_line
from restart_lightning.reliability.safe_load import load_checkpoint_file


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same directory, fsync and ``os.replace``.

    A failed write (a full disk, lost permissions) removes its temporary file and raises
    ``CheckpointWriteError`` naming the file; the previous file at ``path`` is untouched.
    """
    path = Path(path)
    remove_stale_temporaries(path.parent, path.name)
    tmp = path.with_name(f".{path.name}.{_writer_tag()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:  # "x": never reuse a file; permissions follow the umask
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, (OSError, RuntimeError)) and not isinstance(error, CheckpointWriteError):
            # torch.save reports a failed write as RuntimeError ("file write failed"), open() as OSError
            reason = getattr(error, "strerror", None) or one_line(error)[:200]
            raise CheckpointWriteError(
                f"checkpoint: cannot write '{path}' ({reason}); the previous checkpoint there, if any, is kept"
            ) from error
        raise
    _fsync_directory(path.parent)  # make the rename itself durable
    return path


def _writer_tag() -> str:
    """``<host>-<pid>`` of this process: lets a later run tell a dead writer's leftovers from a live one's."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def remove_stale_temporaries(directory: str | os.PathLike, name: str = "*") -> list[Path]:
    """Delete the temporary files of checkpoint writes killed mid-write (``.<name>.<host>-<pid>.<id>.tmp``).

    Only files of processes on this host that no longer run are removed: a live writer (another
    process of the same run, or a concurrent run) keeps its file. Returns the files removed.
    """
    removed = []
    host = socket.gethostname().replace(".", "_")
    for tmp in Path(directory).glob(f".{name}.*.tmp") if Path(directory).is_dir() else []:
        match = re.fullmatch(rf"\..+\.{re.escape(host)}-(\d+)\.[0-9a-f]+\.tmp", tmp.name)
        legacy = re.fullmatch(r"\..+\.[0-9a-f]{32}\.tmp", tmp.name)  # before writers were tagged
        if (match and not _process_alive(int(match.group(1)))) or legacy:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


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
