"""Typed constraints of constructor arguments: what the command line refuses and ``--help`` shows.

Each constraint is a jsonargparse restricted number type (``restricted_number_type``), so an
annotation such as ``lr: FinitePositiveFloat`` makes LightningCLI refuse ``--model.lr -1`` or
``--model.lr .nan`` while parsing, before anything is built, and ``--help`` print
``type: FinitePositiveFloat``. The float types are finite in float32, the precision training
uses: a NaN fails every comparison, and ``inf`` (or 1e300) fails ``<= FLOAT32_MAX``.

The parsed values are plain ``int``/``float`` (the types are re-registered with a deserializer
that validates and returns the base type): hyperparameters saved in checkpoints must stay
loadable with ``torch.load(weights_only=True)``, which refuses unknown classes.

``check_arguments`` applies the same constraints to direct Python calls, from the annotations, so
the rule lives in one place (the signature).
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from jsonargparse.typing import register_type, restricted_number_type

FLOAT32_MAX = 3.4028234663852886e38  # torch.finfo(torch.float32).max
CONSTRAINTS: dict[str, type] = {}  # name -> type, for error messages ("allowed: <doc>")


def _constraint(name: str, base: type, restrictions: list[tuple[str, float]], doc: str) -> type:
    typ = restricted_number_type(name, base, restrictions, docstring=doc)

    def deserialize(value: Any, typ=typ, base=base) -> Any:
        return base(typ(value))  # validates; a plain int/float, never the subclass

    # replace the registration restricted_number_type made (older jsonargparse refuses a second one by default)
    register_type(typ, serializer=base, deserializer=deserialize, fail_already_registered=False)
    CONSTRAINTS[name] = typ
    return typ


# Floats: always finite in float32.
FiniteFloat = _constraint("FiniteFloat", float, [(">=", -FLOAT32_MAX), ("<=", FLOAT32_MAX)],
                          "a finite number (|x| <= 3.4e38)")
FinitePositiveFloat = _constraint("FinitePositiveFloat", float, [(">", 0.0), ("<=", FLOAT32_MAX)],
                                  "a finite number > 0 (at most 3.4e38)")
FiniteNonNegativeFloat = _constraint("FiniteNonNegativeFloat", float, [(">=", 0.0), ("<=", FLOAT32_MAX)],
                                     "a finite number >= 0 (at most 3.4e38)")
# ("<= 2" is redundant: it keeps the key apart from jsonargparse's ClosedUnitInterval, which parses to a subclass.)
UnitInterval = _constraint("UnitInterval", float, [(">=", 0.0), ("<=", 1.0), ("<=", 2.0)], "a number in [0, 1]")
HalfOpenUnitInterval = _constraint("HalfOpenUnitInterval", float, [(">=", 0.0), ("<", 1.0)], "a number in [0, 1)")
# Integers (names distinct from jsonargparse's own PositiveInt/NonNegativeInt, which parse to subclasses).
PositiveInteger = _constraint("PositiveInteger", int, [(">=", 1)], "an integer >= 1")
NonNegativeInteger = _constraint("NonNegativeInteger", int, [(">", -1)], "an integer >= 0")
IntegerAtLeastTwo = _constraint("IntegerAtLeastTwo", int, [(">=", 2)], "an integer >= 2")
Seed = _constraint("Seed", int, [(">=", 0), ("<", 2**63)], "an integer in [0, 2**63)")

def describe(type_name: str) -> str | None:
    """What a constraint allows, by its type name (``"FinitePositiveFloat"`` -> ``"a finite number > 0"``)."""
    typ = CONSTRAINTS.get(type_name)
    return typ.__doc__ if typ is not None else None


def _check(value: Any, annotation: Any) -> bool:
    """Whether ``value`` satisfies the constraints inside ``annotation`` (Optional, tuples, sequences)."""
    if annotation in CONSTRAINTS.values():
        try:
            annotation(value)
        except (ValueError, TypeError):
            return False
        return not isinstance(value, bool)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        if value is None:
            return type(None) in args
        return any(_check(value, a) for a in args if a is not type(None))
    if origin in (tuple, list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return True  # a type problem, not a constraint: left to the code that uses it
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_check(v, a) for v, a in zip(value, args, strict=True))
        return all(_check(v, args[0]) for v in value) if args else True
    return True


def _allowed(annotation: Any) -> str:
    names = [a for a in CONSTRAINTS.values() if a is annotation or a in _flatten(annotation)]
    text = " / ".join(t.__doc__ for t in names) or "see the signature"
    if type(None) in _flatten(annotation):
        text += " or null"
    return text


def _flatten(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation] if not args else [x for a in args for x in _flatten(a)]


def check_arguments(function: Callable, values: Mapping[str, Any], prefix: str) -> None:
    """ValueError naming ``<prefix>.<argument>``, the value and what is allowed, for the first argument
    of ``function`` whose value breaks the constraint in its annotation (for direct Python calls;
    the command line has already refused such values while parsing)."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # annotations that cannot be resolved here (a foreign class): nothing to check
        return
    for name in inspect.signature(function).parameters:
        if name in values and name in hints and not _check(values[name], hints[name]):
            raise ValueError(f"{prefix}.{name}: invalid value {values[name]!r}; allowed: {_allowed(hints[name])}")
