"""Where pretrained feature-extractor weights are found, and how to fetch them (never implicitly).

FID uses torch-fidelity's port of the TF 2015-12-05 Inception-v3 graph; FD-DINOv2 the DINOv2
ViT-L/14 checkpoint that ``torch.hub`` loads for ``dinov2_vitl14`` (the file EDM2's metrics use).
Nothing in the metrics downloads at run time. ``find_weights`` looks for a weights file
1. at the configured path, if one is given (it must exist: an explicit choice is never replaced);
2. otherwise in torch hub's checkpoints directory (``$TORCH_HOME/hub/checkpoints``, by default
   ``~/.cache/torch/hub/checkpoints``), where torchmetrics, torch-fidelity and ``torch.hub`` download them;
3. then in the project cache (``$RESTART_LIGHTNING_CACHE``, by default ``~/.cache/restart_lightning``).
A missing file is one ``MissingWeightsError`` (a FileNotFoundError) line naming the field to set, the
places searched, the command that fetches the file and its URL. ``python -m
restart_lightning.metrics.weights [PATH]`` (``--dinov2`` for DINOv2's file) downloads a file, to torch
hub's directory unless PATH is given; offline it fails in one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_WEIGHTS_FILENAME = INCEPTION_WEIGHTS_URL.rsplit("/", 1)[-1]  # the name torch hub saves it under
LEGACY_INCEPTION_FILENAMES = ("pt_inception-2015-12-05-6726825d.pth",)  # this project's earlier cache name
DINOV2_WEIGHTS_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
DINOV2_WEIGHTS_FILENAME = DINOV2_WEIGHTS_URL.rsplit("/", 1)[-1]
DOWNLOAD_COMMAND = "python -m restart_lightning.metrics.weights"
CACHE_ENV_VAR = "RESTART_LIGHTNING_CACHE"


def cache_root() -> Path:
    """``$RESTART_LIGHTNING_CACHE``, else ``~/.cache/restart_lightning``: weights and reference statistics."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "restart_lightning")


def hub_checkpoints_dir() -> Path:
    """torch hub's download directory, ``torch.hub.get_dir()/checkpoints`` (honours ``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_candidates(filenames: Sequence[str]) -> list[Path]:
    """The places searched for a weights file without a configured path, in order."""
    return [directory / name for directory in (hub_checkpoints_dir(), cache_root()) for name in filenames]


class MissingWeightsError(FileNotFoundError):
    """No weights file: the message names ``field``, the places searched, the download command and URL.

    ``kind`` says which weights (``inception``, ``dinov2``), so a caller can re-raise the error with
    the name of its own setting (``with_field``).
    """

    def __init__(self, kind: str, configured: Path | None, candidates: list[Path], field: str, url: str,
                 command: str) -> None:
        self.kind, self.configured, self.candidates = kind, configured, candidates
        self.field, self.url, self.command = field, url, command
        super().__init__(self._message())

    def with_field(self, field: str) -> MissingWeightsError:
        return MissingWeightsError(self.kind, self.configured, self.candidates, field, self.url, self.command)

    def _message(self) -> str:
        if self.configured is not None:
            path = self.configured
            return (f"{self.field}: no weights file at '{path}'. Nothing is downloaded at run time; fetch it with "
                    f"`{self.command} '{path}'` or `curl -L -o '{path}' {self.url}`, or leave {self.field} unset "
                    f"to use a copy in {hub_checkpoints_dir()} or {cache_root()}")
        target = self.candidates[0]
        return (f"weights file {target.name} not found (looked in {', '.join(str(p) for p in self.candidates)}). "
                f"Nothing is downloaded at run time; fetch it once with `{self.command}` (saves {target}) or "
                f"`curl -L --create-dirs -o '{target}' {self.url}`, or set {self.field} to the path of a copy")


def find_weights(filenames: Sequence[str], configured: str | os.PathLike | None = None, *, kind: str, field: str,
                 url: str, command: str) -> Path:
    """The weights file to use (see the module docstring), or MissingWeightsError.

    ``filenames``: the file's names (the first is the one downloads use); ``field``: the setting that
    points at a copy (named in the error); ``command``: how to download it.
    """
    if configured is not None:
        path = Path(configured).expanduser()
        if path.is_file():
            return path
        raise MissingWeightsError(kind, path, [], field, url, command)
    candidates = weights_candidates(filenames)
    for path in candidates:
        if path.is_file():
            return path
    raise MissingWeightsError(kind, None, candidates, field, url, command)


def find_inception_weights(path: str | os.PathLike | None = None, field: str = "inception_weights") -> Path:
    """The Inception-v3 weights for FID: ``path`` if given, else torch hub's copy, else the project cache's."""
    return find_weights((INCEPTION_WEIGHTS_FILENAME, *LEGACY_INCEPTION_FILENAMES), path, kind="inception",
                        field=field, url=INCEPTION_WEIGHTS_URL, command=DOWNLOAD_COMMAND)


def find_dinov2_weights(path: str | os.PathLike | None = None, field: str = "dinov2_weights") -> Path:
    """The DINOv2 ViT-L/14 weights for FD-DINOv2: ``path`` if given, else torch hub's copy, else the cache's."""
    return find_weights((DINOV2_WEIGHTS_FILENAME,), path, kind="dinov2", field=field, url=DINOV2_WEIGHTS_URL,
                        command=f"{DOWNLOAD_COMMAND} --dinov2")


def resolve_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """``find_inception_weights`` for the metric's own argument ``feature_extractor_weights_path``."""
    return find_inception_weights(path, field="feature_extractor_weights_path")


def resolve_dinov2_weights(path: str | os.PathLike | None = None) -> Path:
    """``find_dinov2_weights`` for the feature extractor's argument ``dinov2_weights``."""
    return find_dinov2_weights(path, field="dinov2_weights")


def default_inception_weights_path() -> Path:
    """Where ``download_inception_weights`` puts the file by default: torch hub's checkpoints directory."""
    return hub_checkpoints_dir() / INCEPTION_WEIGHTS_FILENAME


def default_dinov2_weights_path() -> Path:
    """Where ``download_dinov2_weights`` puts the file by default: torch hub's checkpoints directory."""
    return hub_checkpoints_dir() / DINOV2_WEIGHTS_FILENAME


def download_weights(target: str | os.PathLike, url: str, hash_prefix: str | None = None,
                     progress: bool = True) -> Path:
    """Download ``url`` to ``target`` unless the file exists.

    Uses ``torch.hub.download_url_to_file`` (which writes to a temporary file and moves it
    into place). ``hash_prefix`` optionally checks the SHA-256.
    """
    target = Path(target).expanduser()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(target), hash_prefix=hash_prefix, progress=progress)
    return target


def download_inception_weights(
    path: str | os.PathLike | None = None,
    url: str = INCEPTION_WEIGHTS_URL,
    hash_prefix: str | None = None,
    progress: bool = True,
) -> Path:
    """Download the Inception-v3 weights to ``path`` (default: ``default_inception_weights_path()``)."""
    return download_weights(path if path is not None else default_inception_weights_path(), url, hash_prefix, progress)


def download_dinov2_weights(
    path: str | os.PathLike | None = None,
    url: str = DINOV2_WEIGHTS_URL,
    hash_prefix: str | None = None,
    progress: bool = True,
) -> Path:
    """Download the DINOv2 ViT-L/14 weights to ``path`` (default: ``default_dinov2_weights_path()``)."""
    return download_weights(path if path is not None else default_dinov2_weights_path(), url, hash_prefix, progress)


def main(argv: list[str] | None = None) -> None:
    """Command line: download the weights to PATH (default location if omitted); one error line offline."""
    parser = argparse.ArgumentParser(description="Download the Inception-v3 weights used for FID (or DINOv2's).")
    parser.add_argument("path", nargs="?", default=None,
                        help=f"target file (default {default_inception_weights_path()}, or "
                             f"{default_dinov2_weights_path()} with --dinov2)")
    parser.add_argument("--dinov2", action="store_true", help="the DINOv2 ViT-L/14 weights for FD-DINOv2")
    parser.add_argument("--url", default=None)
    args = parser.parse_args(argv)
    default, url = ((default_dinov2_weights_path(), DINOV2_WEIGHTS_URL) if args.dinov2
                    else (default_inception_weights_path(), INCEPTION_WEIGHTS_URL))
    target, url = Path(args.path).expanduser() if args.path is not None else default, args.url or url
    try:
        print(download_weights(target, url))
    except (OSError, ValueError, RuntimeError) as error:  # URLError is an OSError; RuntimeError: hash mismatch
        reason = " ".join(str(getattr(error, "reason", None) or error).split())
        sys.stderr.write(
            f"error: could not download {url} ({reason}); on a machine with internet access run "
            f"`curl -L -o {target.name} {url}` and copy the file to {target}\n"
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
