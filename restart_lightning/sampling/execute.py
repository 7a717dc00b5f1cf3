"""Runs a Plan: the single place where the denoiser is called and noise is drawn."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from .plan import Noise, Plan, Step
from .steps import Denoise, History, dpmpp_2m_step, euler_maruyama_step, euler_step, heun_step

DenoiserFn = Callable[..., Tensor]

_PLAIN_STEPS = {"euler": euler_step, "heun": heun_step}
Draw = Callable[[], Tensor]  # the plan's next standard-normal injection


# How each op kind runs: (D, x, op, draw, history) -> (x, history). Only dpmpp_2m keeps the multistep
# history (and uses it where the plan says so); noise and every other step end it.
def _run_noise(D: Denoise, x: Tensor, op: Noise, draw: Draw, history: History) -> tuple[Tensor, History]:
    return x + op.std * draw(), None


def _run_plain(D: Denoise, x: Tensor, op: Step, draw: Draw, history: History) -> tuple[Tensor, History]:
    return _PLAIN_STEPS[op.kind](D, x, op.sigma_from, op.sigma_to), None


def _run_euler_maruyama(D: Denoise, x: Tensor, op: Step, draw: Draw, history: History) -> tuple[Tensor, History]:
    return euler_maruyama_step(D, x, op.sigma_from, op.sigma_to, op.noise_std * draw()), None


def _run_dpmpp_2m(D: Denoise, x: Tensor, op: Step, draw: Draw, history: History) -> tuple[Tensor, History]:
    return dpmpp_2m_step(D, x, op.sigma_from, op.sigma_to, history if op.history else None)


RUNNERS: dict[str, Callable[..., tuple[Tensor, History]]] = {
    "noise": _run_noise, "euler": _run_plain, "heun": _run_plain,
    "euler_maruyama": _run_euler_maruyama, "dpmpp_2m": _run_dpmpp_2m,
}


def resolve_model_dtype(denoiser: Any, model_dtype: Optional[torch.dtype] = None) -> torch.dtype:
    """The dtype the network runs in: ``model_dtype`` if given, else the denoiser's ``dtype``
    attribute, else the dtype of an ``nn.Module`` denoiser's first floating parameter, else float32.
    """
    if model_dtype is not None:
        return model_dtype
    if isinstance(getattr(denoiser, "dtype", None), torch.dtype):
        return denoiser.dtype
    if isinstance(denoiser, nn.Module):
        for p in denoiser.parameters():
            if p.is_floating_point():
                return p.dtype
    return torch.float32


@torch.no_grad()
def run_plan(
    plan: Plan,
    denoiser: DenoiserFn,
    x: Tensor,
    injections: Iterable[Tensor],
    *,
    labels: Optional[Tensor] = None,
    model_dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Execute ``plan`` from the float64 state ``x`` (already at level plan.sigma_start).

    The denoiser sees x cast to ``model_dtype``, sigma as a [B] tensor of that dtype and, if
    not None, ``labels=labels``; its output is cast back to float64. ``injections`` are the
    plan's standard-normal draws in plan order, [B, ...] each (``NoiseSource.draw`` or
    ``NoiseSource.injections``), used where the plan injects noise. Raises FloatingPointError at the first op after
    which the state is non-finite, and RuntimeError if the calls made differ from the plan.
    Runs without autograd.
    """
    calls = 0
    batch = x.shape[0]
    extra = {} if labels is None else {"labels": labels}

    def D(x_t: Tensor, t: float) -> Tensor:
        nonlocal calls
        calls += 1
        sigma = torch.full((batch,), t, dtype=model_dtype, device=x_t.device)
        return denoiser(x_t.to(model_dtype), sigma, **extra).to(torch.float64)

    draws = iter(injections)

    def z(i: int) -> Tensor:
        drawn = next(draws, None)
        if drawn is None:
            raise RuntimeError(f"plan op {i} injects noise but the injections ran out")
        return drawn

    history: History = None  # (t_prev, x0_prev) of the previous dpmpp_2m step
    for i, op in enumerate(plan.ops):
        if getattr(op, "history", False) and history is None:
            raise RuntimeError(f"plan op {i} asks for multistep history that does not exist")
        x, history = RUNNERS[op.kind](D, x, op, partial(z, i), history)
        if not torch.isfinite(x).all():
            raise FloatingPointError(
                f"samples became non-finite at sigma = {op.sigma_to:.6g} (plan op {i}: {op.kind} "
                f"sigma {op.sigma_from:.6g} -> {op.sigma_to:.6g}, phase {op.phase!r})"
            )
    if calls != plan.calls:
        raise RuntimeError(f"{plan.sampler}: made {calls} denoiser calls but the plan has {plan.calls}")
    return x
