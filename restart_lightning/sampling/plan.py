"""A sampler's plan: every step and every noise injection, known before the network runs.

Samplers only build plans; ``execute.run_plan`` runs them, so what is printed is what runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

from .steps import ODE_SOLVERS, churn_t_hat, noise_std, step_nfe


def nfe_per_call(denoiser: Any) -> int:
    """Network evaluations per denoiser call: the denoiser's own ``nfe_per_call`` (2 under
    classifier-free guidance), else 1."""
    return int(getattr(denoiser, "nfe_per_call", 1))


@dataclass(frozen=True)
class Step:
    """One solver step ``kind`` from sigma_from to sigma_to; ``nfe``: its denoiser calls (``steps.STEP_NFE``).

    ``noise_std`` > 0: the step adds noise of that std itself (Euler-Maruyama).
    ``history``: a multistep step (dpmpp_2m) that uses the previous step's denoised value.
    """

    kind: str
    sigma_from: float
    sigma_to: float
    noise_std: float = 0.0
    history: bool = False
    phase: str = "main"

    @property
    def nfe(self) -> int:
        return step_nfe(self.kind, self.sigma_to)


@dataclass(frozen=True)
class Noise:
    """Fresh noise of std ``std`` raising the level from sigma_from to sigma_to (churn, restart jump)."""

    sigma_from: float
    sigma_to: float
    std: float
    phase: str = "main"

    kind = "noise"
    nfe = 0


Op = Union[Step, Noise]


@dataclass(frozen=True)
class Plan:
    """Everything a sampler will do, in order.

    Fields: ``sampler`` (registry name), ``ops`` (Step/Noise in execution order),
    ``nfe_per_call`` (network evaluations per denoiser call, 2 under classifier-free guidance).
    Derived: ``calls`` (the sum of the ops' denoiser calls; ``execute.run_plan`` checks it made exactly
    these), ``nfe`` (= calls * nfe_per_call), ``sigma_start``
    (level of the initial latents), ``noise_injections`` ((sigma, std) of every injection).
    """

    sampler: str
    ops: tuple[Op, ...]
    nfe_per_call: int = 1

    @property
    def calls(self) -> int:
        return sum(op.nfe for op in self.ops)

    @property
    def nfe(self) -> int:
        return self.calls * self.nfe_per_call

    @property
    def sigma_start(self) -> float:
        return self.ops[0].sigma_from

    @property
    def noise_injections(self) -> list[tuple[float, float]]:
        return [
            (op.sigma_from, op.std) if isinstance(op, Noise) else (op.sigma_to, op.noise_std)
            for op in self.ops
            if isinstance(op, Noise) or op.noise_std > 0
        ]

    def summary(self) -> str:
        """One line: the sampler, its NFE, the sigma range and the number of noise injections."""
        return (
            f"{self.sampler} plan: {self.nfe} NFE ({self.calls} denoiser calls x {self.nfe_per_call}), "
            f"sigma {self.sigma_start:.4g} -> {self.ops[-1].sigma_to:.4g}, "
            f"{len(self.noise_injections)} noise injections"
        )

    def __str__(self) -> str:
        head = self.summary()
        rows = [f"{'#':>4}  {'phase':<24} {'op':<20} {'sigma from':>11} {'sigma to':>11} {'NFE':>4} {'noise std':>10}"]
        for i, op in enumerate(self.ops):
            kind = op.kind + (" (2nd order)" if isinstance(op, Step) and op.history else "")
            std = op.std if isinstance(op, Noise) else op.noise_std
            std_text = f"{std:10.4g}" if std > 0 else ""
            sigmas = f"{op.sigma_from:>11.5g} {op.sigma_to:>11.5g}"
            rows.append(f"{i:>4}  {op.phase:<24} {kind:<20} {sigmas} {op.nfe:>4} {std_text}".rstrip())
        return "\n".join([head, *rows])


def ode_ops(
    solver: str,
    sigmas: Sequence[float],
    *,
    phase: str = "main",
    gamma: Callable[[float], float] = lambda t: 0.0,
    S_noise: float = 1.0,
) -> list[Op]:
    """Steps of ODE ``solver`` along ``sigmas``, each preceded by churn where gamma(t) > 0 (EDM Alg. 2).

    A multistep solver uses its history from the second step on; churn resets it.
    """
    if solver not in ODE_SOLVERS:
        raise ValueError(f"solver: unknown ODE solver {solver!r}; allowed values: {', '.join(ODE_SOLVERS)}")
    ops: list[Op] = []
    has_history = False
    for t, t_next in zip(sigmas[:-1], sigmas[1:]):
        g = gamma(t)
        if g > 0:
            t_hat = churn_t_hat(t, g)
            ops.append(Noise(t, t_hat, noise_std(t, t_hat, S_noise), phase))
            t, has_history = t_hat, False
        use_history = has_history and t_next > 0
        ops.append(Step(solver, t, t_next, history=use_history, phase=phase))
        has_history = solver == "dpmpp_2m"
    return ops

