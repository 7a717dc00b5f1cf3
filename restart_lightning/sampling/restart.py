"""Restart sampling (Xu et al. 2023, Algorithm 2): an ODE main pass plus restart rounds.

Each restart interval [N_restart, K, t_min, t_max] has its t_min snapped to the nearest
main-schedule sigma. Right after the main pass reaches that sigma, K rounds follow, each a
forward jump t_min -> t_max, x <- x + S_noise sqrt(t_max^2 - t_min^2) n (one draw), then
N_restart - 1 backward ODE steps over an EDM rho = 7 grid from t_max down to t_min.
With Heun everywhere, NFE = (2N - 1) + sum_i 2 K_i (N_restart_i - 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence, Union

from .base import MAX_PLAN_STEPS, Sampler, check_option, is_finite, is_int, is_real
from .plan import Noise, Op, ode_ops
from .schedules import karras_sigmas
from .steps import ODE_SOLVERS, noise_std

RESTART_RHO = 7.0


@dataclass(frozen=True)
class RestartInterval:
    """[N_restart, K, t_min, t_max]: K rounds of (jump t_min -> t_max, N_restart - 1 ODE steps back)."""

    N_restart: int
    K: int
    t_min: float
    t_max: float

    def __post_init__(self) -> None:
        check_option("N_restart", self.N_restart, is_int(self.N_restart) and 2 <= self.N_restart <= MAX_PLAN_STEPS,
                     f"an int in [2, {MAX_PLAN_STEPS}]")
        check_option("K", self.K, is_int(self.K) and 0 <= self.K <= MAX_PLAN_STEPS, f"an int in [0, {MAX_PLAN_STEPS}]")
        check_option("t_max", self.t_max, is_finite(self.t_max) and self.t_max > 0, "a finite number > 0")
        check_option("t_min", self.t_min, 0 < self.t_min < self.t_max, f"0 < t_min < t_max (= {self.t_max})")

    @classmethod
    def parse(cls, value: Any, where: str = "") -> "RestartInterval":
        """From a RestartInterval, a sequence [N_restart, K, t_min, t_max] or a dict of those keys.

        Errors name the field prefixed by ``where`` (e.g. ``restart_intervals[1].t_min``).
        """
        if isinstance(value, RestartInterval):
            return value
        if isinstance(value, dict):
            fields = [value.get(k) for k in ("N_restart", "K", "t_min", "t_max")]
        else:
            fields = list(value) if isinstance(value, (list, tuple)) else []
        check_option(where.rstrip("."), value, len(fields) == 4 and None not in fields, "[N_restart, K, t_min, t_max]")
        n, k, t_min, t_max = fields
        try:
            for name, v in (("N_restart", n), ("K", k)):  # 3.0 is accepted as 3, 3.5 and inf are not
                check_option(name, v, is_finite(v) and float(v).is_integer(), "an integer")
            for name, v in (("t_min", t_min), ("t_max", t_max)):
                check_option(name, v, is_real(v), "a number")
            return cls(int(n), int(k), float(t_min), float(t_max))
        except ValueError as error:
            raise ValueError(f"{where}{error}") from None


class Restart(Sampler):
    """Restart sampler (Xu et al. 2023, Algorithm 2).

    Args (besides the main schedule of ``Sampler``, N = num_steps):
        restart_intervals: list of [N_restart, K, t_min, t_max]; disjoint (touching is allowed).
            Required: at least one (an empty list would be plain Heun, and is refused); K = 0
            keeps an interval without rounds.
        S_noise: scale of the forward-jump noise (and of restart churn).
        restart_gamma: churn gamma inside the backward restart steps where S_min <= t <= S_max
            (EDM Alg. 2 style; the authors used 0.05 on [0.01, 1]); 0 is the pure algorithm.
        S_min, S_max: sigma range where restart churn applies.
        solver: ODE step of the main pass; restart_solver: ODE step of the backward passes
            (``euler``, ``heun``, ``dpmpp_2m``; a multistep solver restarts after each jump).
    """

    name: ClassVar[str] = "restart"

    def __init__(
        self,
        num_steps: int = 18,
        restart_intervals: Sequence[Union[Sequence[float], RestartInterval]] = (),
        S_noise: float = 1.0,
        restart_gamma: float = 0.0,
        S_min: float = 0.01,
        S_max: float = 1.0,
        solver: str = "heun",
        restart_solver: str = "heun",
        schedule: str = "edm",
        sigma_min: Optional[float] = None,
        sigma_max: Optional[float] = None,
        rho: float = 7.0,
    ) -> None:
        check_option("restart_intervals", restart_intervals, isinstance(restart_intervals, (list, tuple)),
                     "a list of [N_restart, K, t_min, t_max]")
        self.restart_intervals = tuple(
            RestartInterval.parse(v, f"restart_intervals[{j}].") for j, v in enumerate(restart_intervals)
        )
        self.S_noise, self.restart_gamma, self.S_min, self.S_max = S_noise, restart_gamma, S_min, S_max
        self.solver, self.restart_solver = solver, restart_solver
        super().__init__(num_steps, schedule, sigma_min, sigma_max, rho)

    def validate(self) -> None:
        check_option("S_noise", self.S_noise, is_finite(self.S_noise) and self.S_noise >= 0, "a finite number >= 0")
        check_option("restart_gamma", self.restart_gamma, is_finite(self.restart_gamma) and self.restart_gamma >= 0,
                     "a finite number >= 0")
        check_option("S_min", self.S_min, is_finite(self.S_min) and self.S_min >= 0, "a finite number >= 0")
        check_option("S_max", self.S_max, is_real(self.S_max) and self.S_max >= self.S_min,
                     f"a number >= S_min (= {self.S_min}), inf allowed")
        for name in ("solver", "restart_solver"):
            value = getattr(self, name)
            check_option(name, value, isinstance(value, str) and value in ODE_SOLVERS,
                         f"one of {', '.join(ODE_SOLVERS)}")
        intervals = self.restart_intervals
        # Without intervals Restart is plain Heun (or its `solver`): refused rather than run under its name.
        check_option("restart_intervals", list(intervals), bool(intervals),
                     "at least one [N_restart, K, t_min, t_max], e.g. [[3, 2, 0.14, 0.3]] "
                     "(use the heun sampler for no restarts)")
        extra = sum(i.K * (i.N_restart - 1) for i in intervals)  # checked before any plan is built
        check_option("restart_intervals", [[i.N_restart, i.K, i.t_min, i.t_max] for i in intervals],
                     self.num_steps + extra <= MAX_PLAN_STEPS,
                     f"intervals whose restart steps, sum K (N_restart - 1) (here {extra}), and num_steps "
                     f"({self.num_steps}) add up to at most {MAX_PLAN_STEPS}")
        for j, a in enumerate(intervals):
            for i, b in enumerate(intervals[:j]):
                if a.t_min < b.t_max and b.t_min < a.t_max:
                    raise ValueError(
                        f"restart_intervals[{j}] = [t_min {a.t_min}, t_max {a.t_max}] overlaps restart_intervals[{i}] "
                        f"= [t_min {b.t_min}, t_max {b.t_max}]; intervals must be disjoint (they may touch)"
                    )

    def build_ops(self, sigmas: list[float]) -> list[Op]:
        n = len(sigmas) - 1
        snapped = self._snap(sigmas)
        rounds_at = {i: j for j, i in enumerate(snapped) if self.restart_intervals[j].K > 0}  # sigma_i -> interval j
        ops: list[Op] = []
        start = 0
        for i in sorted(rounds_at) + [n]:
            ops += ode_ops(self.solver, sigmas[start : i + 1])  # main pass down to sigma_i
            if i < n:
                ops += self._restart_rounds(rounds_at[i], sigmas[i])
            start = i
        return ops

    def _snap(self, sigmas: list[float]) -> list[int]:
        """Index i of the main-grid sigma_i nearest to each interval's t_min, checked against the grid."""
        n, snapped = len(sigmas) - 1, []
        for j, interval in enumerate(self.restart_intervals):
            i = min(range(n + 1), key=lambda k: abs(sigmas[k] - interval.t_min))
            where = f"restart_intervals[{j}]"
            check_option(
                f"{where}.t_max",
                interval.t_max,
                interval.t_max <= sigmas[0],
                f"<= sigma_max of the main schedule (= {sigmas[0]:.6g})",
            )
            check_option(
                f"{where}.t_min",
                interval.t_min,
                1 <= i < n and sigmas[i] < interval.t_max,
                f"a value snapping to an interior main-schedule sigma below t_max; the interior sigmas are "
                f"{sigmas[n - 1]:.4g} .. {sigmas[1]:.4g} (it snapped to sigma_{i} = {sigmas[i]:.4g})",
            )
            if i in snapped:
                raise ValueError(
                    f"{where}.t_min = {interval.t_min} snaps to main-schedule sigma_{i} = {sigmas[i]:.6g}, "
                    f"as restart_intervals[{snapped.index(i)}].t_min does; each interval needs its own sigma"
                )
            snapped.append(i)
        return snapped

    def _restart_rounds(self, j: int, t_min: float) -> list[Op]:
        """K rounds of restart interval j, with t_min snapped to the main grid."""
        interval = self.restart_intervals[j]
        backward = karras_sigmas(interval.N_restart, t_min, interval.t_max, RESTART_RHO)[:-1].tolist()

        def gamma(t: float) -> float:
            return self.restart_gamma if self.S_min <= t <= self.S_max else 0.0

        ops: list[Op] = []
        for k in range(interval.K):
            phase = f"restart[{j}] round {k + 1}/{interval.K}"
            ops.append(Noise(t_min, interval.t_max, noise_std(t_min, interval.t_max, self.S_noise), phase))
            ops += ode_ops(self.restart_solver, backward, phase=phase, gamma=gamma, S_noise=self.S_noise)
        return ops

