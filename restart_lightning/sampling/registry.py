"""Samplers by name, and the one parser of sampler specs.

A spec is one of
- a registry name: ``heun``;
- a preset file: ``configs/samplers/restart_cifar10_edm_nfe43.yaml``, a YAML mapping of ``name:`` and
  the sampler's options (found by path or by its name inside the package, ``config_files``);
- a dict: ``{name: heun, num_steps: 18}``, optionally with ``sweep: {num_steps: [4, 8, 16]}``,
  which expands into one sampler per value (an NFE sweep, logged as one curve per family).

The evaluation callback, the model's ``predict_sampler``, the command-line shorthand and preset
files all go through ``load_spec`` and ``parse_sampler_specs`` here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from restart_lightning.config_files import find_config_file

from .base import Sampler
from .ode import DPMSolverPP2M, Euler, Heun
from .restart import Restart
from .sde import EDMStochastic, EulerAncestral, EulerMaruyama

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (Restart, Heun, Euler, DPMSolverPP2M, EDMStochastic, EulerMaruyama, EulerAncestral)
}
PRESET_SUFFIXES = (".yaml", ".yml")


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


def is_preset_path(spec: Any) -> bool:
    """A spec naming a preset file (rather than a sampler or a mapping)."""
    return isinstance(spec, (str, Path)) and str(spec).endswith(PRESET_SUFFIXES)


def read_yaml(path: Path, where: str) -> Any:
    """The YAML in ``path``; ValueError naming ``where``, the file and the line of a syntax error."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{where}: {str(path)!r} is not valid YAML{at}: {problem}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{where}: {str(path)!r} cannot be read ({error})") from None


def load_spec(spec: str | Path | dict[str, Any], where: str, relative_to: Iterable[str | Path] = ()) -> dict[str, Any]:
    """The mapping ``{name: ..., <options>}`` (maybe with ``sweep``) a spec stands for; a preset file
    is looked up next to ``relative_to`` (the config files naming it), as given, then in the package."""
    if isinstance(spec, dict):
        return dict(spec)
    if isinstance(spec, str) and spec in SAMPLERS:
        return {"name": spec}
    if is_preset_path(spec):
        path = find_config_file(spec, relative_to, what=f"{where}: sampler preset file")
        loaded = read_yaml(path, where)
        if not isinstance(loaded, dict) or "name" not in loaded:
            raise ValueError(f"{where}: {str(spec)!r} is not a sampler preset (a YAML mapping with a 'name' key "
                             "and the sampler's options)")
        return loaded
    raise ValueError(f"{where}: unknown sampler {spec!r}; valid names: {', '.join(SAMPLERS)} (or a preset .yaml file)")


def load_sampler_preset(path: str | Path) -> Sampler:
    """The sampler described by a preset file (see ``load_spec``)."""
    return build_sampler(**load_spec(Path(path), str(path)))


@dataclass(frozen=True)
class NamedSampler:
    """A sampler with the label it is logged under and its family (registry name)."""

    label: str
    sampler: Sampler

    @property
    def family(self) -> str:
        return self.sampler.name


def parse_sampler_specs(specs: dict[str, str | dict[str, Any]], field: str = "samplers") -> list[NamedSampler]:
    """Build every sampler now, so that a bad name or option fails before any training or sampling."""
    if not specs:
        raise ValueError(f"{field}: at least one sampler is needed; valid names: {', '.join(SAMPLERS)}")
    named: list[NamedSampler] = []
    for label, spec in specs.items():
        where = f"{field}.{label}"
        config = load_spec(spec, where)
        sweep = config.pop("sweep", None) or {}
        name = config.pop("name", None)
        if name not in SAMPLERS:
            raise ValueError(f"{where}.name: unknown sampler {name!r}; valid names: {', '.join(SAMPLERS)}")
        if not isinstance(sweep, dict) or not all(isinstance(v, list) and v for v in sweep.values()):
            raise ValueError(f"{where}.sweep: expected a mapping of option -> non-empty list of values, got {sweep!r}")
        keys = list(sweep)
        for values in itertools.product(*(sweep[k] for k in keys)) if keys else [()]:
            options = {**config, **dict(zip(keys, values))}
            try:
                sampler = build_sampler(name, **options)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{where}: {error}") from None
            suffix = "_".join(f"{k}{v}" for k, v in zip(keys, values))
            named.append(NamedSampler(f"{label}_{suffix}" if suffix else label, sampler))
    labels = [n.label for n in named]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{field}: sampler labels must be unique, got {labels}")
    return named


def _sampler_class(name: str) -> type[Sampler]:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid names: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
