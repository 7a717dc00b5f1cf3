"""Where the feature extractors' weights live, and how to fetch them (never implicitly).

FID uses torch-fidelity's port of the TF 2015-12-05 Inception-v3 graph; FD-DINOv2 the DINOv2
ViT-L/14 checkpoint that ``torch.hub`` loads for ``dinov2_vitl14`` (the file EDM2's metrics use).
Nothing in the metrics downloads at run time: a missing file is a ``FileNotFoundError`` raised
when the metric is constructed, before any sampling. ``download_inception_weights`` (or
``python -m restart_lightning.metrics.weights [PATH]``, ``--dinov2`` for the DINOv2 file)
fetches a file explicitly.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
DINOV2_WEIGHTS_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
DINOV2_WEIGHTS_FILENAME = "dinov2_vitl14_pretrain.pth"
CACHE_ENV_VAR = "RESTART_LIGHTNING_CACHE"


def cache_root() -> Path:
    """``$RESTART_LIGHTNING_CACHE``, else ``~/.cache/restart_lightning``: weights and reference statistics."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "restart_lightning")


def default_inception_weights_path() -> Path:
    """``cache_root() / pt_inception-2015-12-05-6726825d.pth``."""
    return cache_root() / INCEPTION_WEIGHTS_FILENAME


def default_dinov2_weights_path() -> Path:
    """``cache_root() / dinov2_vitl14_pretrain.pth``."""
    return cache_root() / DINOV2_WEIGHTS_FILENAME


def _resolve(path: str | os.PathLike | None, default: Path, what: str, url: str, flag: str, field: str) -> Path:
    resolved = Path(path).expanduser() if path is not None else default
    if not resolved.is_file():
        raise FileNotFoundError(
            f"{what} not found at '{resolved}'. Nothing is downloaded at run time. "
            f"Fetch {url} to that path, e.g. "
            f"`python -m restart_lightning.metrics.weights{flag} '{resolved}'` or "
            f"`curl -L -o '{resolved}' {url}`, "
            f"or point `{field}` at an existing copy."
        )
    return resolved


def resolve_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """Return the weights path if the file exists, else raise a FileNotFoundError saying how to get it."""
    return _resolve(path, default_inception_weights_path(), "Inception-v3 weights for FID", INCEPTION_WEIGHTS_URL,
                    "", "feature_extractor_weights_path")


def resolve_dinov2_weights(path: str | os.PathLike | None = None) -> Path:
    """The DINOv2 ViT-L/14 weights path if the file exists, else a FileNotFoundError saying how to get it."""
    return _resolve(path, default_dinov2_weights_path(), "DINOv2 ViT-L/14 weights for FD-DINOv2", DINOV2_WEIGHTS_URL,
                    " --dinov2", "dinov2_weights")


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
    """Command line: download the weights to PATH (default location if omitted)."""
    parser = argparse.ArgumentParser(description="Download the Inception-v3 weights used for FID (or DINOv2's).")
    parser.add_argument("path", nargs="?", default=None,
                        help=f"target file (default {default_inception_weights_path()}, or "
                             f"{default_dinov2_weights_path()} with --dinov2)")
    parser.add_argument("--dinov2", action="store_true", help="the DINOv2 ViT-L/14 weights for FD-DINOv2")
    parser.add_argument("--url", default=None)
    args = parser.parse_args(argv)
    if args.dinov2:
        print(download_dinov2_weights(args.path, url=args.url or DINOV2_WEIGHTS_URL))
    else:
        print(download_inception_weights(args.path, url=args.url or INCEPTION_WEIGHTS_URL))


if __name__ == "__main__":
    main()
