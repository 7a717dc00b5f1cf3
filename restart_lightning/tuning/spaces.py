"""Search spaces of the sampler families at an NFE budget, derived from the model (its sigma range,
sigma_data and, for Restart, the sigma band where its error lives).

A space turns an optuna trial (define-by-run: ``trial.suggest_*``) into a sampler spec
``{"name": ..., options...}`` whose plan spends at most the budget, exactly as planned: every
spec is built and planned here, never estimated from a formula. Specs are written as they run
(t_min already on the main grid), with rounded numbers, so a preset file reads well.

Restart (Heun everywhere, NFE = (2N - 1) + sum_i 2 K_i (N_restart_i - 1)): one to five intervals
placed bottom-up in the "restart zone" [sigma_min, max(10 x band top, 2 sigma_data)]: the first
interval's t_max is drawn log-uniformly from a quarter of the band's bottom up to the zone's top,
so it may sit below, inside or around the band; later intervals start at or above the previous
t_max. Main steps take a share of the budget, the rounds K a fraction ("fill") of the rest, so
NFE may be left over. Restart churn (restart_gamma) and S_noise are searched too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from restart_lightning.sampling import build_sampler

# One interval needs at least one round of one backward step (2 NFE) and the main pass at least two
# steps (3 NFE) so that its grid has an interior sigma to restart from.
MIN_NFE = {"restart": 5, "edm_sde": 1, "heun": 1, "dpmpp_2m": 1, "euler": 1, "euler_maruyama": 1,
           "euler_ancestral": 1}
FAMILIES = tuple(MIN_NFE)
MAX_RESTART_INTERVALS = 5  # the authors' ImageNet presets have five
MAX_N_RESTART = 12
RHO_RANGE = (2.0, 12.0)  # the edm schedule's exponent (EDM's 7 in the middle)
S_NOISE_RANGE = (0.97, 1.05)  # EDM's tuned values are 1.003-1.007


@dataclass(frozen=True)
class ModelContext:
    """What the spaces are derived from.

    ``sigma_min``/``sigma_max``: the main schedule's range on this model (the edm defaults clamped to
    the denoiser's valid range); ``sigma_data``: the data's std; ``band``: (low, high) sigma of the
    model's error (``ErrorProfile.error_band()``), or None for a guess from sigma_data.
    """

    sigma_min: float
    sigma_max: float
    sigma_data: float
    band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max < math.inf:
            raise ValueError(f"ModelContext: need 0 < sigma_min < sigma_max < inf, got {self.sigma_min}, "
                             f"{self.sigma_max}")
        if not self.sigma_data > 0:
            raise ValueError(f"ModelContext.sigma_data = {self.sigma_data!r} is invalid; allowed: a number > 0")
        if self.band is not None and not 0 < self.band[0] < self.band[1]:
            raise ValueError(f"ModelContext.band = {self.band!r} is invalid; allowed: (low, high) with 0 < low < high")

    def error_band(self) -> tuple[float, float]:
        """The band, or without a diagnostic a guess: [0.03, 0.3] sigma_data (the data's fine scale)."""
        return tuple(self.band) if self.band is not None else (0.03 * self.sigma_data, 0.3 * self.sigma_data)

    def restart_zone(self) -> tuple[float, float]:
        """Where restart intervals may lie: from sigma_min to well above the band (and 2 sigma_data)."""
        top = min(self.sigma_max, max(10 * self.error_band()[1], 2 * self.sigma_data))
        return self.sigma_min, top


@dataclass(frozen=True)
class Space:
    """The options of ``family`` at ``budget`` NFE on the model of ``context``."""

    family: str
    budget: int
    context: ModelContext

    def suggest(self, trial: Any) -> dict[str, Any]:
        """A spec from the trial's suggestions; its plan's NFE is checked to be <= the budget."""
        spec = _SUGGEST[self.family](trial, self.budget, self.context)
        nfe = self.nfe(spec)
        if nfe > self.budget:  # the suggestion functions are built not to: a bug, not a user error
            raise RuntimeError(f"{self.family} spec {spec} plans {nfe} NFE over the budget {self.budget}")
        return spec

    def nfe(self, spec: dict[str, Any]) -> int:
        """The NFE of the spec's plan on this model's sigma range (builds the sampler)."""
        return plan_nfe(spec, self.context)

    @property
    def default_candidates(self) -> int:
        """Candidates of the first rung: more for the families with more options."""
        return {"restart": 48, "edm_sde": 32, "euler_ancestral": 16}.get(self.family, 8)


def search_space(family: str, budget: int, context: ModelContext) -> Space:
    """The space of ``family`` at ``budget``; ValueError naming the field, value and allowed values."""
    if family not in MIN_NFE:
        raise ValueError(f"family: unknown value {family!r}; allowed: {', '.join(FAMILIES)}")
    lowest = MIN_NFE[family]
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < lowest:
        raise ValueError(f"budgets: {budget!r} is below the smallest NFE of {family} ({lowest}); "
                         f"allowed: integers >= {lowest}")
    return Space(family, budget, context)


def plan_nfe(spec: dict[str, Any], context: ModelContext) -> int:
    return build_sampler(**spec).plan(sigma_min=context.sigma_min, sigma_max=context.sigma_max).nfe


def spec_key(spec: dict[str, Any]) -> str:
    """A canonical text of a spec (equal specs, equal keys)."""
    return json.dumps(spec, sort_keys=True)


def heun_steps(budget: int) -> int:
    """Largest N with 2N - 1 <= budget."""
    return (budget + 1) // 2


def _round(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def _log_uniform(trial: Any, name: str, low: float, high: float) -> float:
    return trial.suggest_float(name, low, high, log=True)


def _between(low: float, high: float, position: float) -> float:
    """The point at ``position`` in [0, 1] between low and high on a log scale."""
    return math.exp(math.log(low) + position * (math.log(high) - math.log(low)))


# ---------------------------------------------------------------------------------- ODE families
def _ode(name: str, steps: Callable[[int], int]) -> Callable[[Any, int, ModelContext], dict[str, Any]]:
    def suggest(trial: Any, budget: int, context: ModelContext) -> dict[str, Any]:
        return {"name": name, "num_steps": steps(budget), "rho": _round(trial.suggest_float("rho", *RHO_RANGE), 3)}

    return suggest


def _edm_sde(trial: Any, budget: int, context: ModelContext) -> dict[str, Any]:
    """EDM Alg. 2 with all of the budget's steps; churn per step gamma = S_churn / N searched log-uniformly."""
    n = heun_steps(budget)
    gamma = _log_uniform(trial, "gamma", 0.01, math.sqrt(2) - 1)
    s_min = _log_uniform(trial, "S_min", context.sigma_min, max(context.sigma_data, 2 * context.sigma_min))
    s_max = _between(2 * s_min, context.sigma_max, trial.suggest_float("S_max_position", 0.0, 1.0))
    return {"name": "edm_sde", "num_steps": n, "S_churn": _round(gamma * n), "S_min": _round(s_min),
            "S_max": _round(min(s_max, context.sigma_max)), "S_noise": _round(trial.suggest_float("S_noise",
                                                                                                   *S_NOISE_RANGE)),
            "rho": _round(trial.suggest_float("rho", *RHO_RANGE), 3)}


def _euler_ancestral(trial: Any, budget: int, context: ModelContext) -> dict[str, Any]:
    return {"name": "euler_ancestral", "num_steps": budget, "eta": _round(trial.suggest_float("eta", 0.0, 1.0), 3),
            "S_noise": _round(trial.suggest_float("S_noise", *S_NOISE_RANGE)),
            "rho": _round(trial.suggest_float("rho", *RHO_RANGE), 3)}


# ---------------------------------------------------------------------------------- Restart
def _restart(trial: Any, budget: int, context: ModelContext) -> dict[str, Any]:
    max_intervals = max(1, min(MAX_RESTART_INTERVALS, (budget - 1) // 4))
    count = trial.suggest_int("num_intervals", 1, max_intervals)
    n_low, n_high = 2, max(2, heun_steps(budget - 2 * count))
    num_steps = n_low + round(trial.suggest_float("main_share", 0.0, 1.0) * (n_high - n_low))
    room = budget - (2 * num_steps - 1)  # NFE left for restart rounds (>= 2)
    fill = trial.suggest_float("fill", 0.6, 1.0)
    grid = build_sampler("heun", num_steps=num_steps).sigmas(
        sigma_min=context.sigma_min, sigma_max=context.sigma_max).tolist()
    interior = grid[1:-1]  # where a t_min may snap to
    zone_low, zone_high = context.restart_zone()
    band_low = context.error_band()[0]

    intervals: list[list[float]] = []  # [N_restart, weight, t_min, t_max] before K is allotted
    previous_top = 0.0
    for j in range(count):
        if j == 0:
            t_max = _log_uniform(trial, "t_max_0", max(3 * zone_low, min(band_low / 4, zone_high / 2)), zone_high)
            t_min = _between(zone_low, 0.7 * t_max, trial.suggest_float("t_min_position_0", 0.0, 1.0))
        else:
            t_min = previous_top * _log_uniform(trial, f"gap_{j}", 1.0, 4.0)
            t_max = t_min * _log_uniform(trial, f"width_{j}", 1.5, 20.0)
        n_restart = trial.suggest_int(f"N_restart_{j}", 2, MAX_N_RESTART)
        weight = trial.suggest_float(f"weight_{j}", 0.1, 1.0) if count > 1 else 1.0
        if t_min >= zone_high:  # no room left in the zone for this interval
            break
        t_max = _round(min(t_max, zone_high, grid[0]))
        # t_min on the main grid (the sampler snaps it there anyway): the nearest interior sigma in
        # [previous t_max, t_max), so that intervals stay disjoint and each has its own sigma.
        choices = [s for s in interior if previous_top <= s < t_max]
        if not choices:
            continue
        snapped = _round(min(choices, key=lambda s: abs(math.log(s) - math.log(t_min))), 6)
        if snapped >= t_max or snapped < previous_top:  # rounding moved it out (measure zero)
            continue
        intervals.append([n_restart, weight, snapped, t_max])
        previous_top = t_max
    restart_intervals = _allot_rounds(intervals, room, fill)

    spec: dict[str, Any] = {"name": "restart", "num_steps": num_steps, "restart_intervals": restart_intervals,
                            "S_noise": _round(trial.suggest_float("S_noise", *S_NOISE_RANGE))}
    if trial.suggest_categorical("restart_churn", [False, True]):
        # churn in every backward restart step (they all lie inside the intervals)
        spec.update(restart_gamma=_round(_log_uniform(trial, "restart_gamma", 0.01, 0.3)),
                    S_min=0.0, S_max=_round(context.sigma_max))
    else:
        spec["restart_gamma"] = 0.0
    return spec


def _allot_rounds(intervals: list[list[float]], room: int, fill: float) -> list[list[float]]:
    """[N_restart, K, t_min, t_max] with K >= 1 each and sum 2 K (N_restart - 1) <= room.

    ``fill`` of the room is shared by the weights; every interval gets at least one round (its
    N_restart capped so that one fits); intervals that do not fit are dropped from the top.
    The first interval always fits (room >= 2 by construction of the main-step range).
    """
    if not intervals:  # unreachable: sigma_min is an interior grid sigma below every first t_max
        raise RuntimeError("no restart interval could be placed")
    total_weight = sum(w for _, w, _, _ in intervals)
    usable = max(2, math.floor(fill * room))
    rows = []
    for n_restart, weight, t_min, t_max in intervals:
        n_restart = int(min(n_restart, room // 2 + 1))
        cost = 2 * (n_restart - 1)
        rows.append([n_restart, max(1, math.floor(usable * weight / total_weight / cost)), t_min, t_max])

    def spent() -> int:
        return sum(2 * k * (n - 1) for n, k, _, _ in rows)

    while spent() > room:
        widest = max(range(len(rows)), key=lambda i: rows[i][1] * (rows[i][0] - 1))
        if rows[widest][1] > 1:
            rows[widest][1] -= 1
        else:
            rows.pop()  # every interval at one round: drop the highest
    return rows


_SUGGEST: dict[str, Callable[[Any, int, ModelContext], dict[str, Any]]] = {
    "restart": _restart,
    "edm_sde": _edm_sde,
    "heun": _ode("heun", heun_steps),
    "dpmpp_2m": _ode("dpmpp_2m", lambda budget: budget),
    "euler": _ode("euler", lambda budget: budget),
    "euler_maruyama": _ode("euler_maruyama", lambda budget: budget),
    "euler_ancestral": _euler_ancestral,
}
