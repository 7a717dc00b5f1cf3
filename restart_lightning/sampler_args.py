"""The ``--sampler`` shortcut: ``--sampler restart --sampler.num_steps 18 --sampler preset.yaml``.

LightningCLI knows nothing of it: the options are taken out of the argument list before
parsing and turned into named samplers, which replace those of the evaluation callback.
Each ``--sampler.<option>`` applies to the ``--sampler`` before it.
"""

from __future__ import annotations

from typing import Any

import yaml

from restart_lightning.evaluation.specs import NamedSampler, _load_spec, parse_sampler_specs


def split_sampler_args(args: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """(the other arguments, one spec dict per ``--sampler``) from a command line."""
    rest: list[str] = []
    specs: list[dict[str, Any]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        key, has_value, value = arg.partition("=")
        if key == "--sampler" or key.startswith("--sampler."):
            if not has_value:
                if i + 1 >= len(args):
                    raise ValueError(f"{arg}: expected a value")
                value, i = args[i + 1], i + 1
            if key == "--sampler":
                specs.append({"spec": value, "options": {}})
            else:
                if not specs:
                    raise ValueError(f"{key}: give --sampler <name or preset.yaml> before its options")
                try:
                    specs[-1]["options"][key[len("--sampler."):]] = yaml.safe_load(value)
                except yaml.YAMLError as error:
                    problem = getattr(error, "problem", None) or "a syntax error"
                    raise ValueError(f"{key}: invalid value {value!r} ({problem}); allowed: a YAML value") from None
        else:
            rest.append(arg)
        i += 1
    return rest, specs


def build_cli_samplers(specs: list[dict[str, Any]]) -> list[NamedSampler]:
    """Named samplers from ``split_sampler_args``; bad names or options raise ValueError now."""
    configs: dict[str, dict[str, Any]] = {}
    for number, item in enumerate(specs):
        config = {**_load_spec(item["spec"], "--sampler"), **item["options"]}
        label = str(item["spec"]).rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")
        configs[label if label not in configs else f"{label}_{number}"] = config
    return parse_sampler_specs(configs, "--sampler")
