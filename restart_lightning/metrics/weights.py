"""Where the Inception-v3 weights for FID live, and how to fetch them (never implicitly).

FID uses torch-fidelity's port of the TF 2015-12-05 Inception-v3 graph. Nothing in the
metrics downloads at run time: a missing file is a ``FileNotFoundError`` raised when the
metric is constructed, before any sampling. ``download_inception_weights`` (or
``python -m restart_lightning.metrics.weights [PATH]``) fetches the file explicitly.
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
CACHE_ENV_VAR = "RESTART_LIGHTNING_CACHE"


def cache_root() -> Path:
    """``$RESTART_LIGHTNING_CACHE``, else ``~/.cache/restart_lightning``: weights and reference statistics."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "restart_lightning")


def default_inception_weights_path() -> Path:
    """``cache_root() / pt_inception-2015-12-05-6726825d.pth``."""
    return cache_root() / INCEPTION_WEIGHTS_FILENAME


def resolve_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """Return the weights path if the file exists, else raise a FileNotFoundError saying how to get it."""
    resolved = Path(path).expanduser() if path is not None else default_inception_weights_path()
    if not resolved.is_file():
        raise FileNotFoundError(
            f"Inception-v3 weights for FID not found at '{resolved}'. Nothing is downloaded at run time. "
            f"Fetch the torch-fidelity weights ({INCEPTION_WEIGHTS_URL}) to that path, e.g. "
            f"`python -m restart_lightning.metrics.weights '{resolved}'` or "
            f"`curl -L -o '{resolved}' {INCEPTION_WEIGHTS_URL}`, "
            "or point `feature_extractor_weights_path` at an existing copy."
        )
    return resolved


def download_inception_weights(
    path: str | os.PathLike | None = None,
    url: str = INCEPTION_WEIGHTS_URL,
    hash_prefix: str | None = None,
    progress: bool = True,
) -> Path:
    """Download the Inception-v3 weights to ``path`` (default: ``default_inception_weights_path()``).

    Uses ``torch.hub.download_url_to_file`` (which writes to a temporary file and moves it
    into place). An existing file is kept. ``hash_prefix`` optionally checks the SHA-256.
    """
    target = Path(path).expanduser() if path is not None else default_inception_weights_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(target), hash_prefix=hash_prefix, progress=progress)
    return target


def main(argv: list[str] | None = None) -> None:
    """Command line: download the weights to PATH (default location if omitted)."""
    parser = argparse.ArgumentParser(description="Download the Inception-v3 weights used for FID.")
    default = default_inception_weights_path()
    parser.add_argument("path", nargs="?", default=None, help=f"target file (default {default})")
    parser.add_argument("--url", default=INCEPTION_WEIGHTS_URL)
    args = parser.parse_args(argv)
    print(download_inception_weights(args.path, url=args.url))


if __name__ == "__main__":
    main()
