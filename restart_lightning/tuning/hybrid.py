"""The hybrid test: which sigma band's approximation error costs sample quality, apart from discretization.

Where the exact denoiser is known (the toy mixtures), a fixed sampler runs with
- the exact denoiser everywhere: what is left is discretization error (plus the metric's own floor,
  measured on fresh data samples);
- the learned denoiser everywhere: discretization plus approximation error;
- the learned denoiser above a sigma cut and the exact one below it, and the reverse, for a set of cuts.

With L(c) the metric of "learned above c" (L(0) = learned everywhere, L(inf) = exact everywhere), the
approximation error attributable to the band (c_i, c_i+1] is L(c_i) - L(c_i+1); with R(c) that of
"learned below c" it is R(c_i+1) - R(c_i). Both sum over the bands to learned - exact; where they
differ, errors in different bands interact. Every run uses the same seeds, so the runs differ only
where their denoisers do: a band where learned and exact agree contributes exactly zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from restart_lightning.evaluation.generation import generate_batches

Metric = Callable[[Tensor], float]


def _dtype_source(*denoisers: Any) -> torch.dtype:
    """The dtype the sampler would run the first learned (module or typed) denoiser in, else float32."""
    from restart_lightning.sampling.execute import resolve_model_dtype

    for denoiser in denoisers:
        if isinstance(denoiser, nn.Module) or isinstance(getattr(denoiser, "dtype", None), torch.dtype):
            return resolve_model_dtype(denoiser)
    return torch.float32


class SwitchedDenoiser:
    """D(x, sigma, labels): ``high`` where sigma > ``cut``, ``low`` where sigma <= ``cut``.

    A plain denoiser to every sampler: it carries the valid sigma range both share, ``sigma_data`` and
    the dtype the sampler runs it in (that of the learned one), so plans are those of the learned model.
    """

    nfe_per_call = 1

    def __init__(self, high: Any, low: Any, cut: float) -> None:
        self.high, self.low, self.cut = high, low, float(cut)
        self.sigma_min = max(float(getattr(high, "sigma_min", 0.0)), float(getattr(low, "sigma_min", 0.0)))
        self.sigma_max = min(float(getattr(high, "sigma_max", math.inf)), float(getattr(low, "sigma_max", math.inf)))
        sigma_data = getattr(high, "sigma_data", getattr(low, "sigma_data", None))
        if sigma_data is not None:
            self.sigma_data = float(sigma_data)
        self.dtype = _dtype_source(high, low)

    def __call__(self, x: Tensor, sigma: Tensor | float, labels: Tensor | None = None) -> Tensor:
        sigma_t = torch.as_tensor(sigma, device=x.device)
        above = sigma_t > self.cut
        if bool(above.all()):
            return self.high(x, sigma, labels)
        if not bool(above.any()):
            return self.low(x, sigma, labels)
        mask = above.reshape(-1, *([1] * (x.ndim - 1)))  # per sample: a batch may mix noise levels
        return torch.where(mask, self.high(x, sigma, labels), self.low(x, sigma, labels))


@dataclass(frozen=True)
class HybridSplit:
    """The hybrid test's metrics: floor (data), exact, learned, and per cut the two hybrids."""

    sampler: str
    nfe: int
    num_samples: int
    cuts: list[float]
    data: dict[str, float]
    exact: dict[str, float]
    learned: dict[str, float]
    learned_above: list[dict[str, float]]
    learned_below: list[dict[str, float]]

    @property
    def metrics(self) -> list[str]:
        return list(self.exact)

    def discretization(self, metric: str) -> float:
        """Exact denoiser everywhere, minus the metric on fresh data samples (its floor at this sample count)."""
        return self.exact[metric] - self.data[metric]

    def approximation(self, metric: str) -> float:
        """Learned everywhere minus exact everywhere."""
        return self.learned[metric] - self.exact[metric]

    def bands(self, metric: str) -> list[tuple[float, float, float, float]]:
        """(sigma_lo, sigma_hi, from_above, from_below) per band between consecutive cuts (0 and inf at the
        ends): the approximation error attributed to the band by the "learned above" and "learned below" runs."""
        edges = [0.0, *self.cuts, math.inf]
        above = [self.learned[metric], *(r[metric] for r in self.learned_above), self.exact[metric]]
        below = [self.exact[metric], *(r[metric] for r in self.learned_below), self.learned[metric]]
        return [(edges[i], edges[i + 1], above[i] - above[i + 1], below[i + 1] - below[i])
                for i in range(len(edges) - 1)]

    def to_dict(self) -> dict:
        return asdict(self)


def _draw(sampler, denoiser, seeds: range, shape: Sequence[int], batch_size: int, device) -> Tensor:
    batches = generate_batches(sampler, denoiser, seeds, shape=shape, batch_size=batch_size, device=device)
    return torch.cat([batch.samples for batch in batches])


def hybrid_samples(sampler, high: Any, low: Any, cut: float, *, seeds: range, shape: Sequence[int],
                   batch_size: int = 10_000, device=None) -> Tensor:
    """Samples of ``sampler`` with ``high`` above sigma ``cut`` and ``low`` at or below it (float64)."""
    return _draw(sampler, SwitchedDenoiser(high, low, cut), seeds, shape, batch_size, device)


def run_hybrid(
    learned: Any,
    exact: Any,
    sampler,
    cuts: Sequence[float],
    *,
    metrics: dict[str, Metric],
    data_samples: Tensor,
    num_samples: int,
    shape: Sequence[int],
    seed_offset: int = 0,
    batch_size: int = 10_000,
    device=None,
    progress: Callable[[str], None] | None = None,
) -> HybridSplit:
    """The hybrid test of ``learned`` against ``exact`` with ``sampler`` on seeds seed_offset + 0..n-1.

    Args:
        cuts: sigma cuts (sorted here); each one costs two sampler runs of ``num_samples``.
        metrics: name -> function of the samples [n, d] (lower is better), e.g. ``toy_metrics``.
        data_samples: fresh samples of the data (n of them), scored for the metrics' floor.
        progress: called with a line before each run.
    """
    cuts = sorted(float(c) for c in cuts)
    if not cuts or any(not (c > 0 and math.isfinite(c)) for c in cuts):
        raise ValueError(f"cuts: invalid value {cuts!r}; allowed: finite numbers > 0")
    seeds = range(seed_offset, seed_offset + num_samples)
    total = 2 + 2 * len(cuts)

    def score(high: Any, low: Any, cut: float, what: str, index: int) -> dict[str, float]:
        if progress is not None:
            progress(f"hybrid run {index}/{total}: {what}")
        samples = hybrid_samples(sampler, high, low, cut, seeds=seeds, shape=shape, batch_size=batch_size,
                                 device=device)
        return {name: float(metric(samples)) for name, metric in metrics.items()}

    exact_row = score(exact, exact, math.inf, "exact denoiser everywhere", 1)
    learned_row = score(learned, learned, math.inf, "learned denoiser everywhere", 2)
    above, below = [], []
    for i, cut in enumerate(cuts):
        above.append(score(learned, exact, cut, f"learned above sigma {cut:.3g}, exact below", 3 + 2 * i))
        below.append(score(exact, learned, cut, f"exact above sigma {cut:.3g}, learned below", 4 + 2 * i))
    plan = sampler.plan(SwitchedDenoiser(learned, exact, cuts[0]))
    return HybridSplit(
        sampler=plan.summary() if hasattr(plan, "summary") else type(sampler).__name__,
        nfe=int(plan.nfe),
        num_samples=num_samples,
        cuts=cuts,
        data={name: float(metric(data_samples)) for name, metric in metrics.items()},
        exact=exact_row,
        learned=learned_row,
        learned_above=above,
        learned_below=below,
    )


def toy_metrics(mixture, reference: Tensor) -> dict[str, Metric]:
    """KL (exact NLL - kNN entropy), exact NLL and sliced W2 to ``reference``, for a Gaussian mixture."""
    from restart_lightning.metrics.kl import KLDivergence
    from restart_lightning.metrics.toy import ExactNLL, SlicedWasserstein

    def once(build: Callable[[], Any]) -> Metric:
        def compute(samples: Tensor) -> float:
            metric = build()
            metric.update(samples)
            return float(metric.compute())
        return compute

    return {
        "kl": once(lambda: KLDivergence(mixture.log_prob)),
        "nll": once(lambda: ExactNLL(mixture.log_prob)),
        "sliced_w2": once(lambda: SlicedWasserstein(reference, num_projections=128, seed=0)),
    }


def default_cuts(sigma_min: float, sigma_max: float, num: int = 10) -> list[float]:
    """``num`` log-spaced cuts strictly inside (sigma_min, sigma_max)."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return [math.exp(lo + (hi - lo) * (i + 1) / (num + 1)) for i in range(num)]


__all__ = ["HybridSplit", "SwitchedDenoiser", "default_cuts", "hybrid_samples", "run_hybrid", "toy_metrics"]
