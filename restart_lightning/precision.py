"""Mixed precision where it helps: a config's ``bf16-mixed`` means float32 on the CPU.

The image configs ask for bf16 mixed precision, EDM's speed setting on GPUs. On the CPU bf16
autocast is slower than float32 for these networks and changes the numbers a CPU test or demo
expects, so a run that will not use a GPU falls back to ``32-true`` and says so.
"""

from __future__ import annotations

import torch
from lightning.pytorch.utilities import rank_zero_info

MIXED = ("bf16-mixed", "16-mixed", "bf16", "16")


def uses_gpu(accelerator) -> bool:
    name = accelerator if isinstance(accelerator, str) or accelerator is None else type(accelerator).__name__.lower()
    if name in (None, "auto"):
        return torch.cuda.is_available()
    return name in ("gpu", "cuda") or "cuda" in str(name)


def resolve_precision(trainer_config) -> None:
    """Replace a mixed precision by ``32-true`` in ``trainer_config`` when no GPU will be used."""
    precision = str(trainer_config.get("precision"))
    if precision in MIXED and not uses_gpu(trainer_config.get("accelerator")):
        trainer_config["precision"] = "32-true"
        rank_zero_info(f"trainer.precision: {precision} asked for, but no GPU is used: training in float32 (32-true)")
