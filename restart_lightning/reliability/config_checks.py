"""Before parsing: every ``--config``/``-c`` file exists and is a YAML mapping (the error names the file and line)."""

from __future__ import annotations

from pathlib import Path

import yaml

from restart_lightning.reliability.errors import ConfigError, one_line


def check_config_files(args: list[str]) -> None:
    """Every ``--config``/``-c`` file exists and is a YAML mapping (the error names the file and line)."""
    for i, arg in enumerate(args):
        key, has_value, value = arg.partition("=")
        if key not in ("--config", "-c"):
            continue
        if not has_value:
            if i + 1 >= len(args):
                return  # the parser reports the missing value
            value = args[i + 1]
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"--config: no file at '{value}'")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or one_line(error)
            raise ConfigError(f"--config {value}: not valid YAML{where}: {problem}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"--config {value}: cannot be read ({one_line(error)})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"--config {value}: expected a YAML mapping of settings, got a {type(loaded).__name__}")
