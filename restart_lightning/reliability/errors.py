"""Errors a user can fix, and how the command line reports them: one line on stderr, no traceback.

Exit codes of ``python main.py``: 0 done; 1 training or sampling failed (non-finite values);
2 bad input (configuration, command line, checkpoint file), refused before any work;
128 + the signal number after a SIGTERM (143) or SIGUSR1 (138) stop that saved a checkpoint.
``RESTART_LIGHTNING_TRACEBACK=1`` re-raises instead, with the full traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.cli import LightningArgumentParser
from lightning.pytorch.utilities.exceptions import SIGTERMException

USAGE_ERROR = 2
RUN_FAILED = 1
TRACEBACK_ENV = "RESTART_LIGHTNING_TRACEBACK"


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the field, the value and what is allowed."""


class CheckpointError(ValueError):
    """A file that is not a loadable checkpoint of this model configuration."""


class NonFiniteError(FloatingPointError):
    """Training met a non-finite loss or gradient (the message gives the step and the sigma range)."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (full disk, lost permissions); the previous one is kept."""


# Raised by our own checks and by the constructors they call: the user can fix these.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    MisconfigurationException,
)


def one_line(message: object) -> str:
    """``message`` with its lines joined, whitespace collapsed (an error report is one line)."""
    return re.sub(r"\s+", " ", str(message)).strip()


def _report(message: str, code: int) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Turn user errors into ``error: <message>`` on stderr and an exit code (see module docstring)."""
    if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
        yield
        return
    try:
        yield
    except SIGTERMException as stop:
        # Raised by PreemptionCheckpoint (code 128 + signal) after saving, or by Lightning itself.
        code = getattr(stop, "code", None)
        raise SystemExit(code if isinstance(code, int) and code else 128 + signal.SIGTERM) from None
    except FloatingPointError as error:  # NonFiniteError and the samplers' non-finite states
        _report(_message(error), RUN_FAILED)
    except CheckpointWriteError as error:
        _report(_message(error), RUN_FAILED)
    except USER_ERRORS as error:
        message = _message(error)
        if "Does not validate against any of the" in message or 'Parser key "' in message:
            message = condense_parser_message(message)  # raised by jsonargparse while instantiating
        _report(message, USAGE_ERROR)
    except OSError as error:  # a read or write the run depends on failed (full disk, a vanished file)
        where = f"'{error.filename}': " if getattr(error, "filename", None) else ""
        _report(f"{where}{error.strerror or _message(error)} ({type(error).__name__}); the run stopped", RUN_FAILED)
    except RuntimeError as error:
        if not _out_of_memory(error):
            raise
        _report(f"out of memory: {_allocation(error)}; lower the batch sizes (data.batch_size, "
                "SamplerEvaluation.batch_size) or the network's size", RUN_FAILED)


def _message(error: BaseException) -> str:
    """The error's own text; for an error re-raised from a DataLoader worker, the worker's last line."""
    message = str(error) or type(error).__name__
    if "Original Traceback" in message:  # torch's ExceptionWrapper: "Caught X in DataLoader worker ..."
        last = [line for line in message.splitlines() if line.strip()][-1]
        message = re.sub(r"^\w+(Error|Exception): ", "", last.strip())
    return message


def _out_of_memory(error: RuntimeError) -> bool:
    text = str(error)
    return type(error).__name__ == "OutOfMemoryError" or "DefaultCPUAllocator: can't allocate memory" in text


def _allocation(error: RuntimeError) -> str:
    match = re.search(r"allocate (\d+) bytes", str(error))
    if match:
        from restart_lightning.memory import format_bytes

        return f"could not allocate {format_bytes(int(match.group(1)))}"
    return one_line(error)[:200]


class OneLineErrorParser(LightningArgumentParser):
    """LightningCLI's parser, reporting a bad argument as one ``error: <field>: <problem>`` line (exit 2)."""

    def error(self, message: str, ex: Exception | None = None):
        if not self.exit_on_error or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            return super().error(message, ex)
        _report(condense_parser_message(message), USAGE_ERROR)


# ------------------------------------------------------------------ jsonargparse messages
_KEY = re.compile(r'^Parser key "([^"]+)":\s*(.*)$')
_CLASS = re.compile(r"^Problem with given class_path '([^']+)':\s*(.*)$")
_LITERAL = re.compile(r"Expected a typing\.Literal\[(.*)\](?:\. Got value: (.*))?$")
_TYPE = re.compile(r"Expected a <class '([\w.]+)'>(?:\. Got value: (.*))?$")
_FIELD_FIRST = re.compile(r"^[A-Za-z_][\w]*(\.[\w\[\]]+)+\b")
_CONSTRAINT = re.compile(r"Not of type (\w+): (.*)$")
_NOISE_ITEMS = ("Expected a <class 'NoneType'>", "Not a valid subclass of", "Expected a path but",
                "Expected a dot import path")
_UNION_NOISE = ("Does not validate against any of the", "Subtypes:", "Errors:")


def _blocks(lines: list[str]) -> list[list[str]]:
    """The ``- item`` blocks at the shallowest item indentation (each with its deeper lines)."""
    items = [(len(ln) - len(ln.lstrip()), i) for i, ln in enumerate(lines) if ln.lstrip().startswith("- ")]
    if not items:
        return []
    depth = min(d for d, _ in items)
    starts = [i for d, i in items if d == depth]
    blocks = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        block = [lines[start].replace("- ", "", 1)] + [ln for ln in lines[start + 1:end]
                                                        if len(ln) - len(ln.lstrip()) > depth]
        blocks.append(block)
    return blocks


def _condense(lines: list[str]) -> tuple[list[str], str, str]:
    """(field keys, problem, given value) of one jsonargparse error block."""
    lines = [ln.rstrip() for ln in lines if ln.strip()]
    if not lines:
        return [], "", ""
    indent = min(len(ln) - len(ln.lstrip()) for ln in lines)
    lines = [ln[indent:] for ln in lines]
    first = lines[0].strip()
    key = _KEY.match(first)
    if key:
        keys, problem, given = _condense(([key.group(2)] if key.group(2) else []) + lines[1:])
        return [key.group(1), *keys], problem, given
    cls = _CLASS.match(first)
    if cls:
        keys, problem, given = _condense(([cls.group(2)] if cls.group(2) else []) + lines[1:])
        return ["init_args", *keys] if keys else [], problem, given
    given = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Given value:")), "")
    nested = re.fullmatch(r"NestedArg\(key='[^']*', val='?(.*?)'?\)", given)  # --a.b=value of a union's class
    given = nested.group(1) if nested else given
    if first.startswith(_UNION_NOISE) or first.startswith("- "):
        items = [b for b in _blocks(lines) if not b[0].strip().startswith(_NOISE_ITEMS)]
        if items:
            keys, problem, inner_given = _condense(items[0])
            return keys, problem, inner_given or given
    return [], first, given


def condense_parser_message(message: str) -> str:
    """One line from a (possibly nested, multi-line) jsonargparse error: ``<field>: <problem>``.

    Follows the first real error of nested class and union errors (``data`` -> ``init_args`` ->
    ``name``) and rewrites ``Expected a typing.Literal[...]`` as the allowed values.
    """
    keys, problem, given = _condense(message.splitlines())
    field = ".".join(k for k in keys if k)
    field = re.sub(r"(?:\.init_args)+$", "", field)
    field = re.sub(r"^model\.init_args\.", "model.", field)  # as before the model's subclass mode: model.lr
    problem = _rewrite(problem or one_line(message), given)
    if not field or _FIELD_FIRST.match(problem) or problem.startswith(field):
        return problem
    return f"{field}: {problem}"


def _rewrite(problem: str, given: str) -> str:
    constraint = _CONSTRAINT.search(problem)
    if constraint:
        return _constraint_problem(constraint.group(1), constraint.group(2), given)
    literal = _LITERAL.search(problem)
    if literal:
        allowed = ", ".join(v.strip().strip("'\"") for v in literal.group(1).split(","))
        value = (literal.group(2) or given).strip()
        return f"invalid value {value!r}; allowed values: {allowed}"
    typed = _TYPE.search(problem)
    if typed:
        value = (typed.group(2) or given).strip()
        return f"expected {typed.group(1)}, got {value!r}"
    return one_line(problem)


def _constraint_problem(type_name: str, detail: str, given: str) -> str:
    """``invalid value V; allowed: <what the type allows>`` for a restricted type's failure.

    What is allowed comes from the type object itself (``restart_lightning.constraints`` or
    jsonargparse's own types), found by the name jsonargparse reports; only the value is taken
    from the message text, where jsonargparse keeps nothing else.
    """
    from jsonargparse import typing as jsonargparse_typing

    from restart_lightning.constraints import describe

    conform = re.match(r"^(.*?)\s*does not conform", detail)
    value = conform.group(1).strip() if conform else ""
    if not value:
        quoted = re.search(r": '(.*)'$", detail)  # float('x') / int('x') failures
        value = quoted.group(1) if quoted else given.strip()
    if not value and detail.endswith((" not a number", " not an integer")):
        value = detail.rsplit(" not ", 1)[0]
    typ = getattr(jsonargparse_typing, type_name, None)
    allowed = describe(type_name) or getattr(typ, "__doc__", None) or getattr(typ, "_expression", type_name)
    try:
        shown = value if float(value) == float(value) or value.lower() == "nan" else repr(value)
    except ValueError:
        shown = repr(value)
    return f"invalid value {shown}; allowed: {allowed}"
