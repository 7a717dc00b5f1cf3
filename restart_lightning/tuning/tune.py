"""``tune`` on a trained model: score sampler specs with the evaluation's metrics, race them per budget, write presets.

``SampleScorer`` is the ``evaluate`` of ``race.tune_family`` for a Lightning module: it draws the
samples of its process's share of the seeds (``evaluation.shares``; sample i from seed i, so the
value does not depend on the number of processes) and computes one metric of the evaluation
callback's suite, synced over DDP. ``TuneSettings`` holds the checked command-line input;
``write_preset``/``write_table`` write the results; a ``<family>_nfe<budget>.done.json`` file marks a
finished budget, and the optuna journal ``tune.journal`` in the same folder holds unfinished ones.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import yaml

from restart_lightning.evaluation.generation import generate_batches
from restart_lightning.evaluation.metric_suite import METRIC_NAMES
from restart_lightning.evaluation.shares import rank_share
from restart_lightning.sampling import build_sampler
from restart_lightning.tuning.diagnose import sigma_range
from restart_lightning.tuning.race import (
    DEFAULT_NUM_BLOCKS,
    DEFAULT_REDUCTION,
    DEFAULT_SAMPLES_PER_RUNG,
    TUNING_SEED_START,
    TuneResult,
    check_rungs,
)
from restart_lightning.tuning.spaces import FAMILIES, MIN_NFE, ModelContext, search_space

# Metrics where more is better: the race minimises, so their sign is flipped.
HIGHER_IS_BETTER = {"precision", "recall", "precision_dinov2", "recall_dinov2", "mode_coverage", "in_mode_fraction",
                    "clip_score"}
JOURNAL = "tune.journal"
SETTINGS = "tune_settings.json"


@dataclass(frozen=True)
class TuneSettings:
    """What decides a tune run's results (a rerun in the same folder must use the same)."""

    family: str
    budgets: tuple[int, ...]
    metric: str | None
    samples_per_rung: tuple[int, ...]
    candidates: int | None
    reduction: int
    num_blocks: int
    seed_start: int
    band: tuple[float, float] | None
    search_seed: int = 0
    searches: int = 1

    def identity(self) -> dict[str, Any]:
        """The settings a journal's trials depend on (budgets may be added in a rerun)."""
        return {k: v for k, v in asdict(self).items() if k != "budgets"}


def parse_settings(
    family: str, budgets: str | Sequence[int], metric: str | None = None,
    samples_per_rung: str | Sequence[int] = DEFAULT_SAMPLES_PER_RUNG, candidates: int | None = None,
    reduction: int = DEFAULT_REDUCTION, num_blocks: int = DEFAULT_NUM_BLOCKS, seed_start: int = TUNING_SEED_START,
    band: str | Sequence[float] | None = None, search_seed: int = 0, searches: int = 1,
) -> TuneSettings:
    """The command line's input, checked: ValueError naming the field, value and allowed values."""
    if family not in FAMILIES:
        raise ValueError(f"family: unknown value {family!r}; allowed: {', '.join(FAMILIES)}")
    values = _numbers(budgets, "budgets", int)
    lowest = MIN_NFE[family]
    if not values:
        raise ValueError(f"budgets: {budgets!r} is invalid; allowed: NFE budgets like 50,100,200 "
                         f"(integers >= {lowest})")
    for budget in values:
        search_space(family, budget, ModelContext(0.002, 80.0, 0.5))  # the same check as the race's
    if len(set(values)) != len(values):
        raise ValueError(f"budgets: {budgets!r} repeats a budget; allowed: distinct integers >= {lowest}")
    if metric is not None and metric not in METRIC_NAMES:
        raise ValueError(f"metric: unknown value {metric!r}; allowed: {', '.join(METRIC_NAMES)}")
    rungs = tuple(_numbers(samples_per_rung, "samples_per_rung", int))
    check_rungs(rungs, reduction, num_blocks)
    if candidates is not None and (isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1):
        raise ValueError(f"candidates: {candidates!r} is invalid; allowed: an integer >= 1 "
                         "(or null: the family's default)")
    if isinstance(seed_start, bool) or not isinstance(seed_start, int) or seed_start < 0:
        raise ValueError(f"seed_start: {seed_start!r} is invalid; allowed: an integer >= 0")
    if isinstance(search_seed, bool) or not isinstance(search_seed, int) or search_seed < 0:
        raise ValueError(f"search_seed: {search_seed!r} is invalid; allowed: an integer >= 0")
    if isinstance(searches, bool) or not isinstance(searches, int) or searches < 1:
        raise ValueError(f"searches: {searches!r} is invalid; allowed: an integer >= 1")
    low_high = None
    if isinstance(band, str) and band.endswith(".json"):  # the error_profile.json that `diagnose` writes
        band = _band_of_diagnosis(band)
    if band is not None:
        low_high = tuple(_numbers(band, "band", float))
        if len(low_high) != 2 or not 0 < low_high[0] < low_high[1] < math.inf:
            raise ValueError(f"band: {band!r} is invalid; allowed: two sigmas low,high with 0 < low < high "
                             "(e.g. 0.05,0.3 from `diagnose`), or null")
    return TuneSettings(family, tuple(values), metric, rungs, candidates, reduction, num_blocks, seed_start, low_high,
                        search_seed, searches)


def _band_of_diagnosis(path: str) -> list[float]:
    try:
        band = json.loads(Path(path).read_text())["band"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"band: {path!r} is not a readable error_profile.json of `diagnose` "
                         f"({type(error).__name__}); allowed: that file, or two sigmas low,high") from None
    return band


def _numbers(value: str | Sequence[Any], field: str, kind: type) -> list[Any]:
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        try:
            number = kind(item.strip()) if isinstance(item, str) else item
        except ValueError:
            number = None
        if kind is int and (isinstance(number, bool) or not isinstance(number, int)):
            raise ValueError(f"{field}: {item!r} in {value!r} is not an integer; allowed: comma-separated integers")
        if kind is float and (isinstance(number, bool) or not isinstance(number, (int, float))):
            raise ValueError(f"{field}: {item!r} in {value!r} is not a number; allowed: comma-separated numbers")
        out.append(kind(number))
    return out


def model_context(denoiser: Any, band: tuple[float, float] | None = None) -> ModelContext:
    """The context of a denoiser: the main schedule's range on it, its sigma_data and the error band."""
    low, high = sigma_range(build_sampler("heun", num_steps=2), denoiser)  # endpoints clamped as every plan's
    sigma_data = getattr(denoiser, "sigma_data", None)
    if sigma_data is None:
        sigma_data = getattr(getattr(denoiser, "preconditioning", None), "sigma_data", 0.5)
    return ModelContext(low, high, float(sigma_data), band)


class SampleScorer:
    """``scorer(spec, seeds) -> value`` (lower is better) on this process's share of ``seeds``.

    ``suite``: a MetricSuite holding ``metric`` (built by ``build_metric_suite``); ``reduce_any``:
    whether any process saw a divergence (DDP: an all-reduce), so that all return +inf together.
    """

    def __init__(self, denoiser: Any, suite: Any, metric: str, *, shape: Sequence[int], batch_size: int,
                 device: torch.device | str, rank: int = 0, world_size: int = 1, num_classes: int = 0,
                 reduce_any: Callable[[bool], bool] = lambda flag: flag) -> None:
        self.denoiser, self.suite, self.metric = denoiser, suite, metric
        self.shape, self.batch_size, self.device = tuple(shape), batch_size, device
        self.rank, self.world_size, self.num_classes = rank, world_size, num_classes
        self.reduce_any = reduce_any
        self.sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
        self.samples_drawn = 0

    @torch.no_grad()
    def __call__(self, spec: dict[str, Any], seeds: range) -> float:
        sampler = build_sampler(**spec)
        share = rank_share(len(seeds), self.rank, self.world_size)
        mine = range(seeds.start + share.start, seeds.start + share.stop)
        self.suite.reset()
        diverged = False
        try:
            for batch in generate_batches(sampler, self.denoiser, mine, shape=self.shape, batch_size=self.batch_size,
                                          device=self.device, num_classes=self.num_classes, label=spec["name"]):
                self.suite.update(batch.samples, labels=batch.labels)
                self.samples_drawn += len(batch.seeds)
        except FloatingPointError:
            diverged = True
        if self.reduce_any(diverged):
            return math.inf
        return self.sign * float(self.suite.compute()[self.metric])


# ---------------------------------------------------------------------------------- files
def preset_path(output_dir: Path, family: str, budget: int) -> Path:
    return output_dir / f"{family}_nfe{budget}.yaml"


def done_path(output_dir: Path, family: str, budget: int) -> Path:
    return output_dir / f"{family}_nfe{budget}.done.json"


def check_output_dir(output_dir: Path, settings: TuneSettings) -> None:
    """A folder holding another run's journal (other metric, rungs, ...) is refused, before anything is written."""
    path = output_dir / SETTINGS
    if not path.exists():
        return
    try:
        before = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ValueError(f"output_dir: {path} is unreadable; remove it or use another --output_dir") from None
    now = json.loads(json.dumps(settings.identity()))
    defaults = {f.name: f.default for f in fields(TuneSettings)}  # settings added later read as their default
    changed = [k for k in now if before.get(k, defaults.get(k)) != now[k]]
    if changed:
        k = changed[0]
        raise ValueError(f"output_dir: {output_dir} holds a tune run with {k} = {before.get(k)!r}, not {now[k]!r}; "
                         "rerun with the same settings (to resume) or use another --output_dir")


def write_settings(output_dir: Path, settings: TuneSettings) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(output_dir / SETTINGS, json.dumps(settings.identity(), indent=1) + "\n")


def describe(result: TuneResult, metric: str, settings: TuneSettings, sign: float) -> dict[str, Any]:
    """A budget's record: what the preset header and the table say (values in the metric's own sign)."""
    spread = result.spread
    rung_counts = {}
    for trial in result.trials:
        rung_counts.setdefault(trial["rung"], [trial["samples"], 0])[1] += 1
    return {
        "family": settings.family, "metric": metric, "best": result.best, "nfe": result.nfe,
        "value": sign * result.value, "samples": result.samples, "seeds": list(result.seeds),
        "rungs": [rung_counts[r] for r in sorted(rung_counts)],  # [samples, candidates] per rung
        "blocks": [sign * v for v in result.blocks],
        "block_size": result.samples // max(1, len(result.blocks)) if result.blocks else 0,
        "spread": None if spread is None else {"mean": sign * spread.mean, "std": spread.std,
                                               "half_width": spread.half_width},
        "evaluations": len(result.trials) + len(result.blocks),
        "searches": settings.searches,
    }


def write_preset(path: Path, record: dict[str, Any], budget: int, checkpoint: str | None,
                 seconds: float) -> None:
    """The winner as a sampler preset (``test --sampler <file>``) with a header saying how it was found."""
    rungs = ", ".join(f"{n} on {s}" for s, n in record["rungs"])
    first, last = record["seeds"]
    lines = [
        f"# {record['family']} preset for a budget of {budget} NFE, found by `restart-lightning tune` "
        "(successive halving on optuna's TPE proposals; docs/tuning.md).",
        f"# Checkpoint: {checkpoint or '(the model as configured)'}.",
        f"# Metric: {record['metric']}; candidates per rung (samples): {rungs}; the candidates of a rung share their "
        "seeds.",
        *([f"# Best of {record['searches']} independent searches (their winners compared on the last rung's "
            "shared seeds)."] if record.get("searches", 1) > 1 else []),
        f"# Tuning seeds {first}..{last} (disjoint from the evaluation seeds 0..n-1); search time {seconds:.0f} s.",
        f"# Value: {record['metric']} {record['value']:.4g} on {record['samples']} samples.",
    ]
    spread = record["spread"]
    if spread:
        lines.append(f"# Over {len(record['blocks'])} seed blocks of {record['block_size']}: "
                     f"{spread['mean']:.4g} +- {spread['half_width']:.2g} (95% t-interval; std {spread['std']:.2g}).")
    lines.append(f"# NFE: {record['nfe']} (the plan's, as spent).")
    # one option per line; lists (restart intervals) one per line in flow style, as the shipped presets
    body = "".join(yaml.safe_dump({key: value}, default_flow_style=None if isinstance(value, list) else False,
                                  sort_keys=False) for key, value in record["best"].items())
    _atomic_write(path, "\n".join(lines) + "\n" + body)


def write_table(output_dir: Path, family: str) -> Path:
    """``<family>_table.md``: one row per finished budget, from the completion files."""
    records = []
    for path in output_dir.glob(f"{family}_nfe*.done.json"):
        records.append(json.loads(path.read_text()))
    records.sort(key=lambda r: r["budget"])
    rows = ["| budget | NFE | metric | value (samples) | seed blocks: mean +- 95% (blocks x size) | "
            "evaluations | time (s) | preset |",
            "|---|---|---|---|---|---|---|---|"]
    for r in records:
        spread = r["spread"]
        blocks = (f"{spread['mean']:.4g} +- {spread['half_width']:.2g} ({len(r['blocks'])} x {r['block_size']})"
                  if spread else "-")
        rows.append(f"| {r['budget']} | {r['nfe']} | {r['metric']} | {r['value']:.4g} ({r['samples']}) | {blocks} | "
                    f"{r['evaluations']} | {r['seconds']:.0f} | {Path(r['preset']).name} |")
    specs = [f"- {r['budget']}: `{json.dumps(r['best'])}`" for r in records]
    path = output_dir / f"{family}_table.md"
    _atomic_write(path, f"# tune: {family}\n\n" + "\n".join(rows) + "\n\nWinners:\n\n" + "\n".join(specs) + "\n")
    return path


def write_done(output_dir: Path, record: dict[str, Any]) -> None:
    _atomic_write(done_path(output_dir, record["family"], record["budget"]), json.dumps(record, indent=1) + "\n")


def load_done(output_dir: Path, family: str, budget: int) -> dict[str, Any] | None:
    path = done_path(output_dir, family, budget)
    return json.loads(path.read_text()) if path.exists() else None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def elapsed(started: float) -> float:
    return time.perf_counter() - started
