"""Reading pickle files that hold only numbers: an unpickler that refuses every other Python object.

``pickle.load`` runs whatever callable a file names (``os.system``, ...), so a data file from an
untrusted folder must never reach it. ``load_numeric_pickle`` resolves only the globals needed
to rebuild NumPy arrays (what CIFAR-10's python-format batch files contain, whether written
by Python 2 or 3); any other global stops the load with ``UnsafePickleError`` before it is
called. Dicts, lists, strings, bytes and numbers need no globals.
"""

from __future__ import annotations

import _codecs
import os
import pickle
from typing import Any

import numpy as np

try:  # NumPy 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # NumPy 1
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

# (module, name) as written in the file -> the object it may resolve to; nothing else is importable.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # written by NumPy 1 (and CIFAR-10's files)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # written by NumPy 2
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs.encode,  # bytes under pickle protocol 2 from Python 3
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file names a Python object other than a NumPy array's parts: it was not loaded."""


class _NumericUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"the pickle refers to {module}.{name}, which is not part of a NumPy array; nothing was run"
            ) from None


def load_numeric_pickle(path: str | os.PathLike, encoding: str = "bytes") -> Any:
    """The object in the pickle file ``path``, built only from containers, numbers, strings and NumPy arrays.

    Raises ``UnsafePickleError`` (a ``pickle.UnpicklingError``) for any other object, and the usual
    ``pickle.UnpicklingError``/``EOFError``/``OSError`` for a truncated or unreadable file.
    ``encoding="bytes"`` reads Python 2 strings as bytes, as CIFAR-10's files need.
    """
    with open(path, "rb") as f:
        return _NumericUnpickler(f, encoding=encoding).load()
