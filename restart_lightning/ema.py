"""EDM-style exponential moving average of a denoiser's weights, with a half-life in samples."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class EMA(nn.Module):
    """A frozen copy of ``model`` updated as ema <- beta ema + (1 - beta) model.

    beta = 0.5 ** (batch / half_life), with EDM's ramp-up: while few samples have been seen
    the half-life is min(half_life, rampup_ratio * samples_seen), so early weights are
    forgotten quickly. ``num_updates`` (a buffer, saved in checkpoints) is 0 until the first
    update; until then the EMA must not be used in place of the live model.
    """

    def __init__(self, model: nn.Module, half_life: float, rampup_ratio: float | None = 0.05) -> None:
        super().__init__()
        if not (isinstance(half_life, (int, float)) and math.isfinite(half_life) and half_life >= 0):
            raise ValueError(f"model.ema_half_life: invalid value {half_life!r}; allowed: a finite number >= 0")
        if rampup_ratio is not None and not (math.isfinite(rampup_ratio) and rampup_ratio > 0):
            raise ValueError(f"model.ema_rampup_ratio: invalid value {rampup_ratio!r}; allowed: a number > 0 or null")
        self.half_life, self.rampup_ratio = float(half_life), rampup_ratio
        self.module = copy.deepcopy(model).requires_grad_(False).eval()
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("samples_seen", torch.zeros((), dtype=torch.float64))

    @property
    def ready(self) -> bool:
        return bool(self.num_updates > 0)

    def train(self, mode: bool = True):  # the copy never trains (dropout stays off)
        super().train(mode)
        self.module.eval()
        return self

    def beta(self, batch_size: int) -> torch.Tensor:
        """The decay of the next update, a 0-dim tensor on the buffers' device (no host sync)."""
        seen = self.samples_seen + batch_size
        half_life = torch.full_like(seen, self.half_life)
        if self.rampup_ratio is not None:
            half_life = torch.minimum(half_life, seen * self.rampup_ratio)
        return 0.5 ** (batch_size / half_life.clamp_min(1e-8))

    @torch.no_grad()
    def update(self, model: nn.Module, batch_size: int) -> None:
        # All tensors move in one fused call: no per-tensor kernel launches in every training step.
        weight = 1 - self.beta(batch_size)
        ema_params, params = list(self.module.parameters()), [p.detach() for p in model.parameters()]
        if len({p.dtype for p in ema_params + params}) == 1:
            torch._foreach_lerp_(ema_params, params, weight.to(params[0].dtype))
        else:
            for ema_p, p in zip(ema_params, params):
                ema_p.lerp_(p.to(ema_p.dtype), weight.to(ema_p.dtype))
        for ema_b, b in zip(self.module.buffers(), model.buffers()):
            ema_b.copy_(b)
        self.samples_seen += batch_size
        self.num_updates += 1
