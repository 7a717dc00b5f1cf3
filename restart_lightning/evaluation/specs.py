"""Sampler specs from YAML or the command line: names, preset files, option dicts and NFE sweeps.

A spec is one of
- a registry name: ``heun``;
- a preset file: ``configs/samplers/restart_cifar10_edm_nfe43.yaml``;
- a dict: ``{name: heun, num_steps: 18}``, optionally with ``sweep: {num_steps: [4, 8, 16]}``,
  which expands into one sampler per value (an NFE sweep, logged as one curve per family).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from restart_lightning.config_files import find_config_file
from restart_lightning.sampling import SAMPLERS, Sampler, build_sampler


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


@dataclass(frozen=True)
class NamedSampler:
    """A sampler with the label it is logged under and its family (registry name)."""

    label: str
    sampler: Sampler

    @property
    def family(self) -> str:
        return self.sampler.name


def _load_spec(spec: str | dict[str, Any], where: str) -> dict[str, Any]:
    if isinstance(spec, dict):
        return dict(spec)
    if isinstance(spec, str) and spec in SAMPLERS:
        return {"name": spec}
    if isinstance(spec, str) and spec.endswith((".yaml", ".yml")):
        path = find_config_file(spec, what=f"{where}: sampler preset file")  # also by its packaged name
        loaded = read_yaml(path, where)
        if not isinstance(loaded, dict) or "name" not in loaded:
            raise ValueError(f"{where}: {spec!r} is not a sampler preset (a YAML mapping with 'name' and options)")
        return loaded
    raise ValueError(f"{where}: unknown sampler {spec!r}; valid names: {', '.join(SAMPLERS)} (or a preset .yaml file)")


def parse_sampler_specs(specs: dict[str, str | dict[str, Any]], field: str = "samplers") -> list[NamedSampler]:
    """Build every sampler now, so that a bad name or option fails before any training or sampling."""
    if not specs:
        raise ValueError(f"{field}: at least one sampler is needed; valid names: {', '.join(SAMPLERS)}")
    named: list[NamedSampler] = []
    for label, spec in specs.items():
        where = f"{field}.{label}"
        config = _load_spec(spec, where)
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
