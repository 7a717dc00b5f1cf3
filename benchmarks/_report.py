"""Tables, paired verdicts and TensorBoard curves of quality_vs_nfe.py.

Every number is a mean over disjoint evaluation seed blocks with its Student-t interval
(restart_lightning.evaluation.uncertainty); verdicts come only from the paired interval of
Restart minus the best other family, block by block on the same seeds.
"""

from __future__ import annotations

import math
import shutil
import statistics
from pathlib import Path
from typing import Any

from _common import fmt, markdown_table
from _quality import KIND, BenchModel

from restart_lightning.evaluation.uncertainty import Spread, paired_difference, summarize

METRIC_NAMES = {
    "nll": "NLL (nats)",
    "kl": "KL(q||p) (nats)",
    "sw2": "sliced W2",
    "frechet": "Frechet distance",
}
METRIC_NOTES = {
    "nll": "NLL = E_q[-ln p(x)] under the exact mixture density (ExactNLL); it is *not* a distance: "
           "samples piled onto the modes' centres score below the real data's NLL (the `data` row).",
    "kl": "KL(q||p) = NLL - H(q), H(q) the Kozachenko-Leonenko kNN entropy (k = 5) of the samples "
          "(restart_lightning.metrics.kl): a proper divergence (>= 0 up to the estimator's bias, which the "
          "`data` row shows); the tuning objective.",
    "sw2": "sliced W2 = SlicedWasserstein (128 projections) to 10,000 real points: sees the mode weights; its "
           "floor at this n is the `data` row.",
    "frechet": "Frechet distance of the samples' features to the real data's statistics (FrechetDistance); "
               "biased, so it falls with the sample count: compare only at the same n.",
}


def describe(spec: dict[str, Any]) -> str:
    """A spec's options in one line (name left out)."""
    parts = []
    for key, value in spec.items():
        if key == "name":
            continue
        if key == "restart_intervals":
            value = "; ".join("[" + ", ".join(fmt(float(v), 3) if isinstance(v, float) else str(v) for v in i) + "]"
                              for i in value)
        elif isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def spread(values: list[float]) -> Spread | None:
    """Mean and t-interval of block values; None if a block diverged."""
    if any(not math.isfinite(v) for v in values):
        return None
    return summarize(values)


def pm(values: list[float], digits: int = 3) -> str:
    s = spread(values)
    if s is None:
        return "diverged"
    return f"{fmt(s.mean, digits)} ± {fmt(s.half_width, digits)}"


def interval(s: Spread | None) -> str:
    if s is None:
        return "n/a (a block diverged)"
    return f"{s.mean:+.4f} [{s.low:+.4f}, {s.high:+.4f}]"


def verdict(diff: Spread | None, restart: list[float], other: list[float]) -> str:
    """wins / loses when the paired 95% interval of Restart minus the other excludes 0 (below / above)."""
    if diff is None:
        r_bad = any(not math.isfinite(v) for v in restart)
        o_bad = any(not math.isfinite(v) for v in other)
        return "ties (both diverged)" if r_bad and o_bad else ("loses" if r_bad else "wins")
    if diff.high < 0:
        return "wins"
    if diff.low > 0:
        return "loses"
    return "ties"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if all(math.isfinite(v) for v in values) else math.inf


def best_other(row: dict[str, Any], metric: str) -> str | None:
    """The non-Restart family with the lowest block mean of ``metric`` at this budget."""
    others = [f for f in row if f in KIND and KIND[f] != "restart"]
    return min(others, key=lambda f: _mean(row[f][metric])) if others else None


def quality_table(model: BenchModel, results: dict, blocks: int, n: int) -> str:
    headers = ["budget", "sampler", "NFE", *(METRIC_NAMES[m] for m in model.metrics), "tuned configuration"]
    rows = []
    if "data" in results:
        rows.append(["-", "real data (floor)", "-", *(pm(results["data"][m]) for m in model.metrics),
                     "samples of p itself"])
    for budget in sorted(b for b in results if isinstance(b, int)):
        for label, e in results[budget].items():
            rows.append([budget, label, e["nfe"], *(pm(e[m]) for m in model.metrics), describe(e["spec"])])
    notes = "\n".join(f"- {METRIC_NOTES[m]}" for m in model.metrics)
    return (
        f"## Model `{model.name}`: {model.description}\n\n"
        f"Each entry: mean ± half-width of the 95% Student-t interval over {blocks} disjoint seed blocks of "
        f"{n:,} samples (seeds 0..{blocks * n - 1:,}; every sampler sees the same seeds). Lower is better in "
        f"every column. Each family's configuration is the winner of `tune_family` at that budget (tuning "
        f"seeds from 10**9, disjoint); `restart (before)` is the preset shipped before the tuner.\n\n{notes}\n\n"
        + markdown_table(headers, rows)
    )


def verdict_rows(results: dict, metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per budget and metric: Restart, the best other family, their paired difference and the verdict."""
    out = []
    for budget in sorted(b for b in results if isinstance(b, int)):
        row = results[budget]
        if "restart" not in row:
            continue
        for metric in metrics:
            other = best_other(row, metric)
            if other is None:
                continue
            r, o = row["restart"][metric], row[other][metric]
            finite = all(math.isfinite(v) for v in r + o)
            diff = paired_difference(r, o) if finite else None
            out.append({"budget": budget, "metric": metric, "restart": r, "restart_nfe": row["restart"]["nfe"],
                        "other": other, "other_values": o, "other_nfe": row[other]["nfe"], "diff": diff,
                        "verdict": verdict(diff, r, o)})
    return out


def claim_check(model: BenchModel, results: dict) -> str:
    metrics = tuple(m for m in model.metrics if m != "nll") + (("nll",) if "nll" in model.metrics else ())
    rows = verdict_rows(results, metrics)
    headers = ["budget", "metric", "Restart (NFE)", "best other family (NFE)", "Restart - other, mean [95% CI]",
               "verdict"]
    table = [[r["budget"], METRIC_NAMES[r["metric"]], f"{pm(r['restart'])} ({r['restart_nfe']})",
              f"{r['other']}: {pm(r['other_values'])} ({r['other_nfe']})", interval(r["diff"]),
              f"**Restart {r['verdict']}**"] for r in rows]
    tally: dict[str, list[str]] = {}
    for r in rows:
        tally.setdefault(r["metric"], []).append(f"{r['verdict']} at {r['budget']}")
    summary = "\n".join(f"- {METRIC_NAMES[m]}: Restart " + ", ".join(v) for m, v in tally.items())
    return (
        f"### Verdicts, model `{model.name}`: Restart against the best other tuned family, per budget and metric\n\n"
        "Paired over the evaluation blocks (same seeds for every sampler): the 95% t-interval of the block-wise "
        "difference Restart minus the other family. **wins** if the interval lies below 0, **loses** if above, "
        "else **ties**. The best other family is picked per metric on these same blocks (a small advantage to "
        "the other families, none to Restart). NLL is not a distance (see above); its verdict is shown for "
        "completeness only.\n\n" + markdown_table(headers, table) + "\n\n" + summary
    )


def summary_table(model: BenchModel, results: dict) -> str:
    """One line per budget: Restart and the best other family per proper metric, with the paired verdict."""
    metrics = tuple(m for m in model.metrics if m != "nll")
    rows = {(r["budget"], r["metric"]): r for r in verdict_rows(results, metrics)}
    headers = ["budget"]
    for m in metrics:
        headers += [f"Restart {METRIC_NAMES[m]} (NFE)", "best other (NFE)", "Restart - other [95% CI]: verdict"]
    table = []
    for budget in sorted({b for b, _ in rows}):
        line: list[Any] = [budget]
        for m in metrics:
            r = rows.get((budget, m))
            if r is None:
                line += ["-", "-", "-"]
                continue
            d = r["diff"]
            ci = f"{fmt(d.mean)} [{fmt(d.low)}, {fmt(d.high)}]" if d else "n/a"
            line += [f"{pm(r['restart'])} ({r['restart_nfe']})",
                     f"{r['other']} {pm(r['other_values'])} ({r['other_nfe']})", f"{ci}: **{r['verdict']}**"]
        table.append(line)
    return (f"### Summary, model `{model.name}`\n\n" + markdown_table(headers, table)) if table else ""


def before_after(model: BenchModel, results: dict) -> str:
    """The preset shipped before the tuner against the tuner's Restart winner, paired, per budget."""
    headers = ["budget", "metric", "before: preset (NFE)", "before", "after: tuned (NFE)", "after",
               "after - before, mean [95% CI]"]
    rows = []
    for budget in sorted(b for b in results if isinstance(b, int)):
        row = results[budget]
        if "restart (before)" not in row or "restart" not in row:
            continue
        old, new = row["restart (before)"], row["restart"]
        for metric in model.metrics:
            finite = all(math.isfinite(v) for v in old[metric] + new[metric])
            diff = paired_difference(new[metric], old[metric]) if finite else None
            rows.append([budget, METRIC_NAMES[metric], f"{old.get('preset', 'old')} ({old['nfe']})", pm(old[metric]),
                         f"restart ({new['nfe']})", pm(new[metric]), interval(diff)])
    if not rows:
        return ""
    return (f"### Before / after, model `{model.name}`: the Restart preset shipped before the tuner against the "
            "tuner's winner (same evaluation blocks)\n\n" + markdown_table(headers, rows))


def tuning_report(model: BenchModel, tuned: dict[int, dict[str, dict[str, Any]]],
                  rungs: dict[int, tuple[int, ...]]) -> str:
    """Per budget and family: how many trials, the winner, and the best trials of the last rungs."""
    parts = [f"# Tuning, model `{model.name}` (objective {model.objective}, lower is better; seeds from 10**9)"]
    for budget in sorted(tuned):
        parts.append(f"Budget {budget} NFE: successive halving on rungs of "
                     f"{', '.join(f'{r:,}' for r in rungs.get(budget, ()))} samples.")
        for family, outcome in tuned[budget].items():
            trials = outcome.get("trials") or []
            top = sorted(trials, key=lambda t: (-t["rung"], t["value"]))[:6]
            shown = [[describe(t["spec"]), t["nfe"], t["rung"], f"{t['samples']:,}", fmt(t["value"], 4)]
                     for t in top]
            parts.append(
                f"## `{model.name}` at {budget} NFE, {family}: {len(trials)} trials, {outcome['seconds']:.0f} s; "
                f"winner {describe(outcome['best'])} ({outcome['nfe']} NFE), "
                f"{model.objective} {fmt(outcome['value'], 4)}\n\n"
                + (markdown_table(["configuration", "NFE", "rung", "samples", model.objective], shown) if shown
                   else "(no trials recorded)"))
    return "\n\n".join(parts)


def curves_to_tensorboard(model: BenchModel, results: dict, log_dir: Path) -> None:
    """Metric against NFE: <metric>/<sampler> (global_step = NFE)."""
    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(log_dir, ignore_errors=True)  # one run per directory: no overlaid old curves
    writer = SummaryWriter(str(log_dir))
    for budget in sorted(b for b in results if isinstance(b, int)):
        for label, e in results[budget].items():
            for metric in model.metrics:
                value = _mean(e[metric])
                if math.isfinite(value):
                    writer.add_scalar(f"{metric}/{label}", value, global_step=e["nfe"])
    writer.close()
