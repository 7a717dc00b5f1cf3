"""Samplers by name, and sampler presets as YAML files (``name:`` plus the sampler's options)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .base import Sampler
from .ode import DPMSolverPP2M, Euler, Heun
from .restart import Restart
from .sde import EDMStochastic, EulerAncestral, EulerMaruyama

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (Restart, Heun, Euler, DPMSolverPP2M, EDMStochastic, EulerMaruyama, EulerAncestral)
}


def sampler_options(name: str) -> list[str]:
    """The keyword options of the sampler called ``name``."""
    return _sampler_class(name).options()


def build_sampler(name: str, **options: Any) -> Sampler:
    """The sampler called ``name`` built from its keyword ``options``.

    Unknown names and unknown options raise ValueError listing what is valid.
    """
    cls = _sampler_class(name)
    valid = sampler_options(name)
    unknown = [key for key in options if key not in valid]
    if unknown:
        raise ValueError(f"sampler {name!r}: unknown option {unknown[0]!r}; valid options: {', '.join(valid)}")
    return cls(**options)


def load_sampler_preset(path: str | Path) -> Sampler:
    """The sampler described by a YAML file with ``name:`` and the sampler's options."""
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable YAML sampler preset ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''})") from None
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"{path}: a sampler preset is a YAML mapping with a 'name' key and the sampler's options")
    return build_sampler(**config)


def _sampler_class(name: str) -> type[Sampler]:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid names: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
