"""Sample quality of a sampler on seed blocks, cached: the models and scores of quality_vs_nfe.py.

A ``BenchModel`` bundles a denoiser with its scorer and the facts the tuner derives its search space
from (``context``). The scorer maps samples to metrics, every one lower-is-better. Seeds: evaluation
blocks are [b n, (b + 1) n); the tuner draws its seeds from 10**9 on (restart_lightning.tuning),
disjoint from every evaluation block. There is no search here: the searches are ``tune_family``'s.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from restart_lightning.data.toy import GaussianMixture
from restart_lightning.metrics import ExactNLL, SlicedWasserstein
from restart_lightning.metrics.kl import knn_entropy  # k-d tree in 2-D: fast enough for the tuner
from restart_lightning.sampling import Sampler, build_sampler

# The families every budget is tuned for; `kind` groups them for the tables.
FAMILIES = ("heun", "dpmpp_2m", "edm_sde", "euler_maruyama", "restart")
KIND = {"heun": "ode", "dpmpp_2m": "ode", "edm_sde": "sde", "euler_maruyama": "sde", "restart": "restart"}



@dataclass
class BenchModel:
    """A denoiser, how to judge its samples, and what its search spaces are derived from.

    ``score(samples) -> {metric: value}``, every metric lower-is-better; ``objective`` is the
    metric the tuner minimises (``objective_only`` computes just it, for the tuner's many calls);
    ``real(n, block)`` draws real data for a floor row (or None); ``context`` is the tuner's
    ``ModelContext`` (sigma range, sigma_data, the error band of the model's diagnostic).
    """

    name: str
    description: str
    denoiser: Callable[..., Tensor]
    shape: tuple[int, ...]
    score: Callable[[Tensor], dict[str, float]]
    metrics: tuple[str, ...]
    objective: str
    context: Any = None
    objective_only: Callable[[Tensor], float] | None = None
    model_dtype: torch.dtype | None = None
    labels: Callable[[list[int]], Tensor | None] = field(default=lambda seeds: None)
    real: Callable[[int, int], Tensor] | None = None


class ToyScorer:
    """Exact NLL E_q[-ln p], KL(q || p) = NLL - H(q) (kNN entropy, metrics.kl) and sliced W2 to real points.

    NLL alone is not a distance: samples piled onto the modes' centres score *below* the
    data's own NLL. KL adds the samples' entropy back, so it is >= 0 up to estimator bias
    (the data row shows that floor) and penalises both stray and over-sharpened samples.
    Sliced W2 sees the mode weights, which KL weighs lightly.
    """

    def __init__(self, mixture: GaussianMixture, num_reference: int = 10_000, seed: int = 12345) -> None:
        self.mixture = mixture
        reference = mixture.sample(num_reference, torch.Generator().manual_seed(seed))
        self.nll = ExactNLL(mixture.log_prob)
        self.sw = SlicedWasserstein(reference, num_projections=128, seed=0)

    def _nll(self, samples: Tensor) -> float:
        self.nll.reset()
        self.nll.update(samples)
        return float(self.nll.compute())

    def kl(self, samples: Tensor) -> float:
        samples = samples.to(torch.float64)
        if not torch.isfinite(samples).all():
            return math.inf
        return self._nll(samples) - knn_entropy(samples)

    def __call__(self, samples: Tensor) -> dict[str, float]:
        samples = samples.to(torch.float64)
        if not torch.isfinite(samples).all():
            return {"nll": math.inf, "kl": math.inf, "sw2": math.inf}
        self.sw.reset()
        self.sw.update(samples)
        nll = self._nll(samples)
        return {"nll": nll, "kl": nll - knn_entropy(samples), "sw2": float(self.sw.compute())}

    def real(self, n: int, block: int) -> Tensor:
        return self.mixture.sample(n, torch.Generator().manual_seed(777 + block))


def draw(model: BenchModel, sampler: Sampler, seeds: range) -> Tensor:
    """Samples of ``sampler`` for ``seeds`` (sample i from seed i)."""
    seeds = list(seeds)
    result = sampler(model.denoiser, seeds=seeds, shape=model.shape, labels=model.labels(seeds),
                     model_dtype=model.model_dtype)
    return result.samples


def nfe_of(spec: dict[str, Any]) -> int:
    return build_sampler(**spec).plan().nfe


class ScoreCache:
    """Scores of (spec, seed range) in a JSON-lines file, so a killed benchmark resumes where it stopped.

    One line per scored call: {"key": ..., "scores": {...}}; appended and flushed at once, so a kill
    loses at most the call in flight. The key hashes the spec (sorted JSON), the seeds and the model.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, float]] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill
                    continue
                self.entries[row["key"]] = row["scores"]

    @staticmethod
    def key(model: str, spec: dict[str, Any], seeds: range, what: str) -> str:
        text = json.dumps([model, spec, seeds.start, seeds.stop, what], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, float]]) -> dict[str, float]:
        if key not in self.entries:
            scores = compute()
            self.entries[key] = scores
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps({"key": key, "scores": scores}) + "\n")
        return self.entries[key]


def _finite_or_inf(scores: dict[str, float]) -> dict[str, float]:
    return {k: (v if math.isfinite(v) else math.inf) for k, v in scores.items()}


def score_blocks(model: BenchModel, spec: dict[str, Any], blocks: list[range], cache: ScoreCache) -> dict[str, list]:
    """{metric: [value per block]} of ``spec`` on the evaluation ``blocks`` (cached)."""
    sampler = build_sampler(**spec)
    out: dict[str, list[float]] = {}
    for seeds in blocks:
        def compute(seeds: range = seeds) -> dict[str, float]:
            try:
                return _finite_or_inf(model.score(draw(model, sampler, seeds)))
            except FloatingPointError:  # the sampler diverged: worst possible score
                return {m: math.inf for m in model.metrics}

        scores = cache.get_or_compute(cache.key(model.name, spec, seeds, "all"), compute)
        for metric in model.metrics:
            out.setdefault(metric, []).append(scores[metric])
    return out


def objective_evaluator(model: BenchModel, cache: ScoreCache) -> Callable[[dict[str, Any], range], float]:
    """``evaluate(spec, seeds) -> float`` for ``tune_family``: the model's objective on those seeds (cached)."""
    only = model.objective_only or (lambda samples: model.score(samples)[model.objective])

    def evaluate(spec: dict[str, Any], seeds: range) -> float:
        def compute() -> dict[str, float]:
            try:
                value = only(draw(model, build_sampler(**spec), seeds))
            except FloatingPointError:
                value = math.inf
            return {model.objective: value if math.isfinite(value) else math.inf}

        return cache.get_or_compute(cache.key(model.name, spec, seeds, model.objective), compute)[model.objective]

    return evaluate
