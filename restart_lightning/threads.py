"""How many CPU threads torch uses for a run: ``--num_threads auto`` (the default) or a number.

``auto`` uses one thread per process when the run is on the CPU and the model is small (fewer than
``SMALL_MODEL_PARAMETERS`` parameters, which covers the toy MLP and the digits U-Net). Their
operations are small, and where other jobs share the cores, torch's default of one thread per core
oversubscribes them: ``benchmarks/cpu_threads.py`` measured training steps 12-15 times slower with 2
threads than with 1 on a shared 2-core machine. ``--num_threads N`` (e.g. on a dedicated many-core
machine) and ``OMP_NUM_THREADS`` in the environment override it; GPU runs are left alone.
"""

from __future__ import annotations

import os
from typing import Literal, Union

import torch
from lightning.pytorch.accelerators import CPUAccelerator

SMALL_MODEL_PARAMETERS = 5_000_000
NumThreads = Union[Literal["auto"], int]

THREADS_HELP = (
    "CPU threads of torch in this run: a number, or auto (1 for models under 5M parameters on the CPU, "
    "torch's default otherwise; OMP_NUM_THREADS in the environment wins)."
)


def add_threads_argument(parser) -> None:
    parser.add_argument("--num_threads", type=NumThreads, default="auto", help=THREADS_HELP)


def check_threads(setting: NumThreads) -> None:
    """One line for a value that is neither ``auto`` nor a positive integer (before anything is built)."""
    if setting != "auto" and (isinstance(setting, bool) or not isinstance(setting, int) or setting < 1):
        raise ValueError(f"num_threads: invalid value {setting!r}; allowed values: auto or an integer >= 1")


def chosen_threads(setting: NumThreads, on_cpu: bool, num_parameters: int) -> int | None:
    """The thread count to set, or None to leave torch's."""
    if setting != "auto":
        return int(setting)
    if os.environ.get("OMP_NUM_THREADS") or not on_cpu or num_parameters >= SMALL_MODEL_PARAMETERS:
        return None
    return 1


def apply_threads(setting: NumThreads, trainer, model) -> None:
    num_parameters = sum(p.numel() for p in model.parameters()) if model is not None else 0
    threads = chosen_threads(setting, isinstance(trainer.accelerator, CPUAccelerator), num_parameters)
    if threads is not None and threads != torch.get_num_threads():
        torch.set_num_threads(threads)
