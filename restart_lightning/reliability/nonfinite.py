"""Non-finite training steps: stop with the step and the batch's sigma range, or skip the step.

The check runs after backward and before the optimizer step, so a bad step never reaches the
weights, and the last checkpoint (written at an earlier batch end) stays the last good one.
Under DDP the decision is reduced over processes, so every process stops or skips together.
Under fp16 AMP only the loss is checked: the GradScaler skips overflowing gradients itself.
"""

from __future__ import annotations

from typing import Literal

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from torch import Tensor, nn

from restart_lightning.reliability.errors import NonFiniteError

NONFINITE_POLICIES = ("raise", "skip")


class NonFiniteGuard:
    """Remembers the current batch's loss and sigma range; ``check`` decides before the optimizer step."""

    def __init__(self, policy: Literal["raise", "skip"] = "raise") -> None:
        if policy not in NONFINITE_POLICIES:
            allowed = ", ".join(NONFINITE_POLICIES)
            raise ValueError(f"model.on_nonfinite: invalid value {policy!r}; allowed values: {allowed}")
        self.policy = policy
        self.loss: Tensor | None = None
        self.sigma_range: tuple[Tensor, Tensor] | None = None
        self.skipped_steps = 0

    def observe(self, loss: Tensor, sigma: Tensor) -> None:
        """Called in ``training_step`` (no device sync here)."""
        self.loss = loss.detach()
        sigma = sigma.detach()
        self.sigma_range = (sigma.min(), sigma.max())

    def check(self, module, step: int) -> bool:
        """True if the step must be skipped (gradients dropped); raises NonFiniteError under ``raise``."""
        trainer = getattr(module, "_trainer", None)
        params = [p for p in module.parameters() if p.grad is not None]
        finite = torch.ones((), dtype=torch.bool, device=module.device)
        # Under fp16 AMP the GradScaler itself skips steps whose (scaled) gradients overflow.
        scaled = getattr(getattr(trainer, "precision_plugin", None), "scaler", None) is not None
        if params and not scaled:
            largest = torch.stack(torch._foreach_norm([p.grad for p in params], float("inf")))
            finite = torch.isfinite(largest).all()
        if self.loss is not None:
            finite = finite & torch.isfinite(self.loss)
        bad = not bool(finite)
        if trainer is not None and trainer.world_size > 1:
            bad = bool(trainer.strategy.reduce_boolean_decision(bad, all=False))
        if not bad:
            return False
        message = self._message(module, step)
        if self.policy == "raise":
            raise NonFiniteError(message)
        for p in params:
            p.grad = None  # the optimizer skips parameters without gradients
        self.skipped_steps += 1
        rank_zero_warn(f"{message}; step skipped (model.on_nonfinite=skip, {self.skipped_steps} so far)")
        return True

    def _message(self, module: nn.Module, step: int) -> str:
        what = "loss"
        if self.loss is not None and torch.isfinite(self.loss):
            names = [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
            what = f"gradient (first in {names[0]})" if names else "loss or gradient on another process"
        lo, hi = (float(s) for s in self.sigma_range) if self.sigma_range else (float("nan"),) * 2
        text = f"non-finite training {what} at step {step}, batch sigma range [{lo:.4g}, {hi:.4g}]"
        if self.policy == "raise":
            trainer = getattr(module, "_trainer", None)
            callback = getattr(trainer, "checkpoint_callback", None) if trainer is not None else None
            last = getattr(callback, "last_model_path", "") or "none yet"
            text += (f": training stopped before the optimizer step; the last good checkpoint ({last}) is kept. "
                     "Lower model.lr, clip gradients (trainer.gradient_clip_val) or set model.on_nonfinite=skip")
        return text


def check_finite_ema(ema_module: nn.Module, step: int) -> None:
    """NonFiniteError naming the first non-finite EMA tensor; called before every checkpoint is written.

    The EMA is a convex combination of weights the step guard has already checked, so it can only
    turn non-finite through its own decay; a checkpoint never stores such weights, whatever
    ``on_nonfinite`` says (there is no step to skip).
    """
    params = [p for p in ema_module.parameters() if p.is_floating_point()]
    if not params or bool(torch.isfinite(torch.stack(torch._foreach_norm(params, float("inf")))).all()):
        return
    name = next(n for n, p in ema_module.named_parameters() if p.is_floating_point() and not torch.isfinite(p).all())
    raise NonFiniteError(
        f"non-finite EMA weights (first in ema.module.{name}) at step {step}: the checkpoint is not written "
        "and training stopped; check model.ema_half_life and model.ema_rampup_ratio"
    )
