"""Config files and sampler presets, by path or by their name inside the package.

The experiment configs and sampler presets ship in the wheel as ``restart_lightning/configs/``
(in a source checkout they are the repository's ``configs/``). A file is looked up
1. relative to the config files that name it (a preset inside ``configs/toy.yaml`` is
   ``samplers/restart_toy_nfe43.yaml``), then
2. as given (absolute, or relative to the current directory), then
3. by its package-relative name: ``toy.yaml``, ``samplers/restart_toy_nfe43.yaml`` (a leading
   ``configs/`` is dropped, so repository paths work from any directory too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_OPTIONS = ("--config", "-c")


def packaged_configs_dir() -> Path | None:
    """``restart_lightning/configs`` of an installed wheel, else the source checkout's ``configs``."""
    installed = PACKAGE_DIR / "configs"
    if installed.is_dir():
        return installed
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "configs").is_dir():
        return checkout / "configs"
    return None


def packaged_config_names() -> list[str]:
    """The experiment configs that ship with the package (``toy.yaml``, ...)."""
    root = packaged_configs_dir()
    return sorted(p.name for p in root.glob("*.yaml")) if root is not None else []


def find_config_file(name: str | os.PathLike, relative_to: Iterable[str | os.PathLike] = (),
                     what: str = "file") -> Path:
    """The existing file ``name`` means (see the module docstring), or ValueError naming where it looked."""
    path = Path(name).expanduser()
    candidates: list[Path] = []
    if not path.is_absolute():
        candidates += [Path(directory) / path for directory in relative_to]
    candidates.append(path)
    root = packaged_configs_dir()
    if root is not None and not path.is_absolute():
        parts = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
        if parts:
            candidates.append(root.joinpath(*parts))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise ValueError(f"{what} {str(name)!r} does not exist (looked in {looked})")


def resolve_config_args(args: Sequence[str]) -> tuple[list[str], list[Path]]:
    """(the command line with every ``--config`` turned into an existing path, those paths).

    ``--config toy.yaml`` from any directory means the packaged ``toy.yaml`` unless a file of that
    name is in the current directory. A name found nowhere is refused in one line.
    """
    out, files = list(args), []
    for i, arg in enumerate(out):
        key, has_value, value = arg.partition("=")
        if key not in CONFIG_OPTIONS:
            continue
        if not has_value:
            if i + 1 >= len(out):
                break
            value = out[i + 1]
        if value.lstrip().startswith(("{", "[")):
            continue  # an inline config, not a file
        try:
            found = find_config_file(value, what="--config")
        except ValueError:
            names = ", ".join(packaged_config_names()) or "none"
            raise ValueError(f"--config: no file at '{value}'; the packaged configs are: {names}") from None
        if found != Path(value):
            found = found.resolve()
            if has_value:
                out[i] = f"{key}={found}"
            else:
                out[i + 1] = str(found)
        files.append(found)
    return out, files
