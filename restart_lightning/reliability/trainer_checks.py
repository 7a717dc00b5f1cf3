"""Values of Lightning's own settings (``trainer.*``, ``seed_everything``) that cannot work, refused after parsing.

The Trainer's signature is Lightning's (``int``, ``float | None``, ...), so LightningCLI accepts a
negative ``gradient_clip_val`` or ``val_check_interval: 0``, which Lightning then silently
misreads or fails on with a ``ZeroDivisionError`` deep in a loop. These checks run right after
parsing, before anything is built or written, and name the field, the value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from restart_lightning.reliability.errors import ConfigError

NUMPY_SEED_MAX = 2**32 - 1  # what seed_everything accepts (numpy's bound)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _fraction_or_count(value: Any) -> bool:
    """An int >= 0 (batches) or a float in [0, 1] (a fraction of the epoch)."""
    if _int(value):
        return value >= 0
    return _number(value) and 0.0 <= value <= 1.0


def _val_check_interval(value: Any) -> bool:
    """An int >= 1 (steps), a float in (0, 1] (a fraction of the epoch), or a time (Lightning checks those)."""
    if _int(value):
        return value >= 1
    if _number(value):
        return 0.0 < value <= 1.0
    return True


# field -> (check, what is allowed)
TRAINER_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "gradient_clip_val": (_optional(lambda v: _number(v) and math.isfinite(v) and v >= 0),
                          "a finite number >= 0 (0 or null: no clipping)"),
    "val_check_interval": (_optional(_val_check_interval),
                           "an integer >= 1 (steps), a number in (0, 1] (a fraction of an epoch), a time, or null"),
    "check_val_every_n_epoch": (_optional(lambda v: _int(v) and v >= 1), "an integer >= 1, or null"),
    "log_every_n_steps": (_optional(lambda v: _int(v) and v >= 0), "an integer >= 0, or null"),
    "accumulate_grad_batches": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "num_sanity_val_steps": (_optional(lambda v: _int(v) and v >= -1), "an integer >= -1 (-1: all), or null"),
    "max_steps": (lambda v: _int(v) and v >= -1, "an integer >= -1 (-1: no limit)"),
    "min_steps": (_optional(lambda v: _int(v) and v >= 0), "an integer >= 0, or null"),
    "max_epochs": (_optional(lambda v: _int(v) and v >= -1), "an integer >= -1 (-1: no limit), or null"),
    "min_epochs": (_optional(lambda v: _int(v) and v >= 0), "an integer >= 0, or null"),
    "limit_train_batches": (_optional(_fraction_or_count), "an integer >= 0 or a number in [0, 1], or null"),
    "limit_val_batches": (_optional(_fraction_or_count), "an integer >= 0 or a number in [0, 1], or null"),
    "limit_test_batches": (_optional(_fraction_or_count), "an integer >= 0 or a number in [0, 1], or null"),
    "limit_predict_batches": (_optional(_fraction_or_count), "an integer >= 0 or a number in [0, 1], or null"),
    "overfit_batches": (_fraction_or_count, "an integer >= 0 or a number in [0, 1]"),
    "reload_dataloaders_every_n_epochs": (lambda v: _int(v) and v >= 0, "an integer >= 0"),
    "num_nodes": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
}


def check_trainer_settings(trainer_config: Any) -> None:
    """ConfigError for the first ``trainer.<field>`` whose value breaks ``TRAINER_RULES`` or is a bad device list."""
    if trainer_config is None:
        return
    devices = trainer_config.get("devices")
    if not _devices_valid(devices):
        raise ConfigError(
            f"trainer.devices: invalid value {devices!r}; allowed values: 'auto', -1 (all), a number of "
            "devices >= 1, or a list of device indices such as [0, 1]"
        )
    for field, (ok, allowed) in TRAINER_RULES.items():
        if field in trainer_config and not ok(trainer_config.get(field)):
            raise ConfigError(f"trainer.{field}: invalid value {trainer_config.get(field)!r}; allowed: {allowed}")


def check_seed(seed: Any) -> None:
    """``seed_everything``: true (a random seed), false (none) or an integer Lightning and numpy accept."""
    if isinstance(seed, bool) or seed is None:
        return
    if not (_int(seed) and 0 <= seed <= NUMPY_SEED_MAX):
        raise ConfigError(
            f"seed_everything: invalid value {seed!r}; allowed: an integer in [0, {NUMPY_SEED_MAX}], true (a random "
            "seed) or false"
        )


def _devices_valid(devices: Any) -> bool:
    if devices is None or devices == "auto":
        return True
    if isinstance(devices, bool):
        return False
    if isinstance(devices, int):
        return devices == -1 or devices >= 1
    if isinstance(devices, (list, tuple)):
        return bool(devices) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices)
    if isinstance(devices, str):
        text = devices.strip()
        if "," in text:
            items = [d.strip() for d in text.split(",") if d.strip()]
            return bool(items) and all(d.isdigit() for d in items)
        try:
            return _devices_valid(int(text))
        except ValueError:
            return False
    return False
