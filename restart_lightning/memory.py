"""Sizes checked before they are allocated, against the machine's memory.

A setting that would need more memory than the machine has (a billion-step plan, 10^11 kept
samples, a network with 10^24 parameters) is refused in one line giving the estimate, instead of
growing until the operating system kills the process. The estimates count the large buffers
only (what certainly has to exist), so a refused setting can never have worked; one that passes
may still be too large once activations and the framework's own memory are added.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 and v1 limits (containers, SLURM jobs): the memory this process may really use.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
BYTES_PER_PARAMETER = 8  # float32 weights and the EMA copy DiffusionModule always keeps


def memory_limit() -> int | None:
    """Bytes of memory this process can have: physical memory, or a lower cgroup limit (None: unknown)."""
    limit = None
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX
        pass
    for path in _CGROUP_LIMITS:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text)) if limit else int(text)
    return limit


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB', 3e12 -> '2.7 TiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"


def device_memory(device) -> int | None:
    """Total memory of a CUDA device; None for the CPU (use ``memory_limit``)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(device).total_memory)
    return None


def check_memory(field: str, value: object, unit_bytes: float, what: str, fixed_bytes: float = 0.0,
                 limit: int | None = None, where: str = "this machine's", allowed: str | None = None) -> None:
    """ValueError unless ``fixed_bytes + value * unit_bytes`` fits into ``limit`` (default: the machine's memory).

    ``field`` and ``value`` name the setting, ``what`` says what the bytes hold (the estimate's basis);
    the message gives the estimate, the memory and the largest value that would fit (or ``allowed``,
    where the bytes do not grow linearly with the value).
    """
    if limit is None:
        limit, where = memory_limit(), "this machine's"
    count = float(value) if isinstance(value, (int, float)) else 1.0
    needed = fixed_bytes + count * unit_bytes
    if limit is None or needed <= limit:
        return
    if allowed is None:
        largest = max(0, math.floor((limit - fixed_bytes) / unit_bytes)) if unit_bytes > 0 else 0
        allowed = f"at most about {largest:.3g}"
    raise ValueError(
        f"{field}: {value!r} needs about {format_bytes(needed)} of memory ({what}), more than {where} "
        f"{format_bytes(limit)}; allowed: {allowed}"
    )


def check_parameter_memory(network: str, parameters: int) -> None:
    """ValueError before building a network whose weights (and EMA copy) cannot fit into memory."""
    limit = memory_limit()
    needed = parameters * BYTES_PER_PARAMETER
    if limit is None or needed <= limit:
        return
    raise ValueError(
        f"{network}: about {parameters:.3g} parameters need about {format_bytes(needed)} of memory "
        f"(float32 weights and the EMA copy), more than this machine's {format_bytes(limit)}; allowed: a network "
        f"with at most about {limit // BYTES_PER_PARAMETER:.3g} parameters"
    )
