"""Sample quality of a sampler on seed blocks, and the small searches that tune Restart and EDM's SDE.

Used by quality_vs_nfe.py. A ``BenchModel`` bundles a denoiser with its scorer; the scorer maps
samples to metrics (lower is better for each). Seeds: evaluation blocks are [b n, (b + 1) n),
b = 0, 1, 2; tuning uses seeds from TUNING_SEED_START on, disjoint from every evaluation block.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from restart_lightning.data.toy import GaussianMixture
from restart_lightning.metrics import ExactNLL, SlicedWasserstein
from restart_lightning.metrics.kl import knn_entropy
from restart_lightning.sampling import Sampler, build_sampler

TUNING_SEED_START = 1_000_000

# Grids of the searches (one Restart interval, as the authors' CIFAR-10 configurations).
RESTART_MAIN_FRACTIONS = (0.2, 0.35, 0.6)  # share of the budget's Heun steps given to the main pass
RESTART_N_RESTART = (2, 3, 5, 8)
RESTART_T_MIN = (0.01, 0.02, 0.05, 0.1, 0.2)  # modes have std 0.05
RESTART_T_MAX = (0.5, 1.0, 2.0)  # modes are 1.0 apart
RESTART_GAMMA = (0.05,)  # the authors' restart churn on [0.01, 1], tried in the second stage (0 in the first)
SDE_GAMMA = (0.05, 0.1, 0.2, math.sqrt(2) - 1)  # S_churn = gamma * N
SDE_S_MIN = (0.01, 0.05)
SDE_S_MAX = (1.0, 10.0, 80.0)
SDE_S_NOISE = (1.003, 1.007)  # tried in the second stage (1.0 in the first)


@dataclass
class BenchModel:
    """A denoiser and how to judge its samples.

    ``score(samples) -> {metric: value}``, every metric lower-is-better; ``objective`` is the
    metric the searches minimise; ``real(n, block)`` draws real data for a floor row (or None).
    """

    name: str
    description: str
    denoiser: Callable[..., Tensor]
    shape: tuple[int, ...]
    score: Callable[[Tensor], dict[str, float]]
    metrics: tuple[str, ...]
    objective: str
    model_dtype: torch.dtype | None = None
    labels: Callable[[list[int]], Tensor | None] = field(default=lambda seeds: None)
    real: Callable[[int, int], Tensor] | None = None


class ToyScorer:
    """Exact NLL E_q[-ln p], KL(q || p) = NLL - H(q) (kNN entropy) and sliced W2 to real points.

    NLL alone is not a distance: samples piled onto the modes' centres score *below* the
    data's own NLL. KL adds the samples' entropy back, so it is >= 0 up to estimator bias
    (the data row shows that floor) and penalises both stray and over-sharpened samples.
    """

    def __init__(self, mixture: GaussianMixture, num_reference: int = 10_000, seed: int = 12345) -> None:
        self.mixture = mixture
        reference = mixture.sample(num_reference, torch.Generator().manual_seed(seed))
        self.nll = ExactNLL(mixture.log_prob)
        self.sw = SlicedWasserstein(reference, num_projections=128, seed=0)

    def __call__(self, samples: Tensor) -> dict[str, float]:
        samples = samples.to(torch.float64)
        if not torch.isfinite(samples).all():
            return {"nll": math.inf, "kl": math.inf, "sw2": math.inf}
        self.nll.reset(), self.sw.reset()
        self.nll.update(samples), self.sw.update(samples)
        nll = float(self.nll.compute())
        return {"nll": nll, "kl": nll - knn_entropy(samples), "sw2": float(self.sw.compute())}

    def real(self, n: int, block: int) -> Tensor:
        return self.mixture.sample(n, torch.Generator().manual_seed(777 + block))


def draw(model: BenchModel, sampler: Sampler, seeds: range) -> Tensor:
    """Samples of ``sampler`` for ``seeds`` (sample i from seed i)."""
    seeds = list(seeds)
    result = sampler(model.denoiser, seeds=seeds, shape=model.shape, labels=model.labels(seeds),
                     model_dtype=model.model_dtype)
    return result.samples


def score_sampler(model: BenchModel, sampler: Sampler, seeds: range) -> dict[str, float]:
    try:
        return model.score(draw(model, sampler, seeds))
    except FloatingPointError:  # the sampler diverged: worst possible score
        return {m: math.inf for m in model.metrics}


# ---------------------------------------------------------------------------------- configurations
def heun_steps(budget: int) -> int:
    """Largest N with 2N - 1 <= budget."""
    return (budget + 1) // 2


def baseline_configs(budget: int) -> dict[str, dict[str, Any]]:
    """The untuned samplers at a budget: as many steps as the budget allows."""
    return {
        "heun": {"name": "heun", "num_steps": heun_steps(budget)},
        "dpmpp_2m": {"name": "dpmpp_2m", "num_steps": budget},
        "euler_maruyama": {"name": "euler_maruyama", "num_steps": budget},
    }


def restart_candidates(budget: int) -> list[dict[str, Any]]:
    """Restart configurations with NFE <= budget over the grid; duplicates after t_min snapping removed."""
    mains = sorted({max(3, round(f * heun_steps(budget))) for f in RESTART_MAIN_FRACTIONS})
    if len(mains) == 1 and 2 * (mains[0] + 1) - 1 + 2 <= budget:
        mains.append(mains[0] + 1)
    configs, plans = [], set()
    for n in mains:
        room = budget - (2 * n - 1)
        for n_restart in RESTART_N_RESTART:
            k = room // (2 * (n_restart - 1))
            if k < 1:
                continue
            for t_min in RESTART_T_MIN:
                for t_max in RESTART_T_MAX:
                    config = {"name": "restart", "num_steps": n, "restart_intervals": [[n_restart, k, t_min, t_max]]}
                    try:
                        plan = str(build_sampler(**config).plan())
                    except ValueError:  # t_min snaps outside the grid or above t_max
                        continue
                    if plan not in plans:
                        plans.add(plan)
                        configs.append(config)
    return configs


def sde_candidates(budget: int) -> list[dict[str, Any]]:
    n = heun_steps(budget)
    return [
        {"name": "edm_sde", "num_steps": n, "S_churn": round(gamma * n, 4), "S_min": s_min, "S_max": s_max,
         "S_noise": 1.0}
        for gamma in SDE_GAMMA for s_min in SDE_S_MIN for s_max in SDE_S_MAX
    ]


def nfe_of(config: dict[str, Any]) -> int:
    return build_sampler(**config).plan().nfe


# ---------------------------------------------------------------------------------- search
def search(
    model: BenchModel, candidates: list[dict[str, Any]], n_first: int, n_final: int, keep: int,
    widen: Callable[[dict[str, Any]], list[dict[str, Any]]] = lambda c: [],
) -> tuple[dict[str, Any], list[tuple[float, float, dict[str, Any]]]]:
    """Successive halving on the tuning seeds: every candidate on n_first samples, the best ``keep``
    (plus their ``widen`` variants) on n_final samples; the winner minimises ``model.objective``.

    Returns the winner and rows (first-stage score, final score or nan, config) sorted by final score.
    """
    first = TUNING_SEED_START
    stage1 = [(score_sampler(model, build_sampler(**c), range(first, first + n_first))[model.objective], c)
              for c in candidates]
    stage1.sort(key=lambda r: r[0])
    finalists = [c for _, c in stage1[:keep]]
    finalists += [w for c in finalists for w in widen(c)]
    scored1 = {repr(c): s for s, c in stage1}
    rows = []
    for c in finalists:
        s2 = score_sampler(model, build_sampler(**c), range(first, first + n_final))[model.objective]
        rows.append((scored1.get(repr(c), math.nan), s2, c))
    rows.sort(key=lambda r: r[1])
    tail = [(s, math.nan, c) for s, c in stage1[keep:]]
    return rows[0][2], rows + tail


def restart_churn_variants(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**config, "restart_gamma": g, "S_min": 0.01, "S_max": 1.0} for g in RESTART_GAMMA]


def sde_noise_variants(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**config, "S_noise": s} for s in SDE_S_NOISE]
