"""The ``sampler`` argument of every subcommand: samplers that replace the experiment's own.

It is a typed LightningCLI argument (shown by ``--help``, printed by ``--print_config``, saved in
the run's ``config.yaml``): a mapping label -> sampler spec, the same specs as
``SamplerEvaluation.samplers``. The command line keeps a shorthand that ``rewrite_sampler_args``
turns into that one argument before parsing::

    --sampler restart --sampler.num_steps 10 --sampler.restart_intervals "[[3, 4, 0.06, 0.5]]"
    --sampler heun --sampler.num_steps 18 --sampler samplers/restart_toy_nfe43.yaml

Each ``--sampler.<option>`` applies to the ``--sampler`` before it. A preset file is inlined (its
options are copied into the argument), so a run's ``config.yaml`` replays the same samplers
wherever it is read. ``--sampler '{label: spec, ...}'`` gives the mapping itself, ``--sampler null``
keeps the experiment's samplers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import yaml

from restart_lightning.sampling.registry import NamedSampler, is_preset_path, load_spec, parse_sampler_specs

SAMPLER_KEY = "sampler"
SamplerOverride = Optional[dict[str, Union[str, dict[str, Any]]]]

SAMPLER_HELP = (
    "Samplers that replace SamplerEvaluation.samplers and model.predict_sampler for this run: a mapping "
    "label -> spec (a sampler name, a preset .yaml file, or {name: ..., <options>}). Shorthand: "
    "--sampler NAME|PRESET.yaml [--sampler.OPTION VALUE ...], repeatable; each --sampler.OPTION applies to the "
    "--sampler before it."
)


def add_sampler_argument(parser) -> None:
    """Add ``--sampler`` to a (subcommand) parser."""
    parser.add_argument(f"--{SAMPLER_KEY}", type=SamplerOverride, default=None, help=SAMPLER_HELP)


def rewrite_sampler_args(args: list[str]) -> list[str]:
    """The command line with every ``--sampler X`` / ``--sampler.option V`` replaced by one
    ``--sampler=<mapping>`` at the place of the first ``--sampler`` (later arguments still win)."""
    rest: list[str] = []
    items: list[dict[str, Any]] = []
    position: int | None = None
    whole: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        key, has_value, value = arg.partition("=")
        if key != "--sampler" and not key.startswith("--sampler."):
            rest.append(arg)
            i += 1
            continue
        if not has_value:
            if i + 1 >= len(args):
                raise ValueError(f"{arg}: expected a value")
            value, i = args[i + 1], i + 1
        position = len(rest) if position is None else position
        if key == "--sampler":
            parsed = _yaml_or_text(value)
            if parsed is None or isinstance(parsed, dict):  # the whole mapping (or null) given directly
                whole, items = value, []
            else:
                items.append({"spec": value, "options": {}})
        else:
            if not items:
                raise ValueError(f"{key}: give --sampler <name or preset.yaml> before its options")
            try:
                items[-1]["options"][key[len("--sampler."):]] = yaml.safe_load(value)
            except yaml.YAMLError as error:
                problem = getattr(error, "problem", None) or "a syntax error"
                raise ValueError(f"{key}: invalid value {value!r} ({problem}); allowed: a YAML value") from None
        i += 1
    if position is None:
        return rest
    if items:
        # YAML flow style, not JSON: JSON would turn inf/nan into the strings "Infinity"/"NaN", and the
        # option checks should see (and name) the number the user typed.
        mapping = sampler_mapping(items)
        value = yaml.safe_dump(mapping, default_flow_style=True, sort_keys=False, width=float("inf")).strip()
    else:
        value = whole if whole is not None else "null"
    return [*rest[:position], f"--{SAMPLER_KEY}={value}", *rest[position:]]


def _yaml_or_text(value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def sampler_mapping(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """label -> full spec (presets inlined) from ``[{"spec": name or path, "options": {...}}, ...]``.

    The label is the name or the preset's file name; a repeated label gets ``_<k>`` (k its position).
    """
    mapping: dict[str, dict[str, Any]] = {}
    for number, item in enumerate(items):
        config = {**load_spec(item["spec"], "--sampler"), **item["options"]}
        label = Path(str(item["spec"])).name.removesuffix(".yaml").removesuffix(".yml")
        mapping[label if label not in mapping else f"{label}_{number}"] = config
    return mapping


def build_cli_samplers(mapping: SamplerOverride) -> list[NamedSampler]:
    """Named samplers of the ``sampler`` argument (none if unset); bad names or options raise ValueError."""
    if not mapping:
        return []
    return parse_sampler_specs(dict(mapping), "--sampler")


def inline_sampler_presets(config: Any, config_dirs: list[Path]) -> None:
    """Replace every sampler preset path in a parsed run config by the preset's options, in place.

    A path is looked up relative to the config files of the run (``config_dirs``), then as given,
    then in the packaged configs; the saved ``config.yaml`` then replays the same samplers from
    any directory, even if the preset files change or move.
    """
    def inline(spec: Any, where: str) -> Any:
        return load_spec(spec, where, config_dirs) if is_preset_path(spec) else spec

    specs = config.get(SAMPLER_KEY)
    if isinstance(specs, dict):
        config[SAMPLER_KEY] = {label: inline(spec, f"--sampler.{label}") for label, spec in specs.items()}
    callbacks = (config.get("trainer") or {}).get("callbacks") or []
    for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
        init_args = callback.get("init_args") if hasattr(callback, "get") else None
        samplers = init_args.get("samplers") if init_args is not None else None
        if isinstance(samplers, dict):
            name = str(callback.get("class_path", "callback")).rsplit(".", 1)[-1]
            init_args["samplers"] = {
                label: inline(spec, f"{name}.samplers.{label}") for label, spec in samplers.items()
            }
    model = config.get("model")
    init_args = model.get("init_args", model) if hasattr(model, "get") else None
    if init_args is not None and hasattr(init_args, "get") and "predict_sampler" in init_args:
        init_args["predict_sampler"] = inline(init_args["predict_sampler"], "model.predict_sampler")
