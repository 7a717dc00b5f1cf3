"""Tables, the claim check and TensorBoard curves of quality_vs_nfe.py."""

from __future__ import annotations

import math
import shutil
import statistics
from pathlib import Path
from typing import Any

from _common import fmt, markdown_table, mean_sd
from _quality import BenchModel

METRIC_NAMES = {
    "nll": "NLL (nats)",
    "kl": "KL(q||p) (nats)",
    "sw2": "sliced W2",
    "frechet": "Frechet distance",
}
METRIC_NOTES = {
    "nll": "NLL = E_q[-ln p(x)] under the exact mixture density (ExactNLL); it is *not* a distance: "
           "samples piled onto the modes' centres score below the real data's NLL (the `data` row).",
    "kl": "KL(q||p) = NLL - H(q), H(q) the Kozachenko-Leonenko kNN entropy (k = 5) of the samples: a proper "
          "divergence (>= 0 up to the estimator's bias, which the `data` row shows); the tuning objective.",
    "sw2": "sliced W2 = SlicedWasserstein (128 projections) to 10,000 real points; its floor at this n is "
           "the `data` row (finite samples), so it cannot see errors below ~0.05, the width of a mode.",
    "frechet": "Frechet distance of the samples' features to the real data's statistics (FrechetDistance).",
}


def describe(config: dict[str, Any]) -> str:
    name = config["name"]
    if name == "restart":
        churn = f", restart_gamma={config['restart_gamma']:g}" if config.get("restart_gamma") else ""
        return f"N={config['num_steps']}, " + "; ".join(
            f"[{a}, {b}, {c:g}, {d:g}]" for a, b, c, d in config["restart_intervals"]) + churn
    if name == "edm_sde":
        return (f"N={config['num_steps']}, S_churn={config['S_churn']:g}, S_min={config['S_min']:g}, "
                f"S_max={config['S_max']:g}, S_noise={config['S_noise']:g}")
    return f"N={config['num_steps']}"


def _pm(values: list[float]) -> str:
    m, s = mean_sd(values)
    if math.isinf(m):
        return "diverged"
    return f"{fmt(m)} ± {fmt(s)}"


def quality_tables(model: BenchModel, results: dict, blocks: int, n: int, family: dict[str, str]) -> str:
    headers = ["budget", "sampler", "family", "NFE", *(METRIC_NAMES[m] for m in model.metrics), "s / block",
               "configuration"]
    rows = []
    if 0 in results:
        data = results[0]["data"]
        rows.append(["-", "real data", "floor", "-", *(_pm(data[m]) for m in model.metrics), "-",
                     "samples of p itself"])
    for budget in sorted(b for b in results if b):
        for label, e in results[budget].items():
            rows.append([budget, label, family[label], e["nfe"], *(_pm(e[m]) for m in model.metrics),
                         fmt(e["seconds"] / blocks, 2), describe(e["config"])])
    notes = "\n".join(f"- {METRIC_NOTES[m]}" for m in model.metrics)
    return (
        f"## Model `{model.name}`: {model.description}\n\n"
        f"Each entry: mean ± sd over {blocks} disjoint seed blocks of {n} samples (seeds 0..{blocks * n - 1}; "
        f"every sampler sees the same seeds). Lower is better for every column.\n\n{notes}\n\n"
        + markdown_table(headers, rows)
    )


def _verdict(restart: list[float], other: list[float]) -> tuple[str, float]:
    """Paired over seed blocks: wins / loses if better / worse in every block and |mean diff| > 2 SE."""
    d = [r - o for r, o in zip(restart, other)]
    if any(math.isinf(x) or math.isnan(x) for x in d):
        return ("wins" if all(math.isinf(o) for o in other) else "loses"), math.nan
    mean = statistics.fmean(d)
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else 0.0
    rel = mean / statistics.fmean(other) if statistics.fmean(other) else math.nan
    if all(x < 0 for x in d) and -mean > 2 * se:
        return "wins", rel
    if all(x > 0 for x in d) and mean > 2 * se:
        return "loses", rel
    return "ties", rel


def _best(row: dict[str, Any], fam: str, metric: str, family: dict[str, str]) -> str:
    members = [k for k in row if family[k] == fam]
    return min(members, key=lambda k: statistics.fmean(row[k][metric]))


def claim_check(model: BenchModel, results: dict, family: dict[str, str]) -> str:
    """Restart against the best ODE and the best SDE sampler at each budget, per proper metric."""
    metrics = [m for m in model.metrics if m != "nll"]
    headers = ["budget", "metric", "Restart (NFE)", "best ODE (NFE)", "Restart vs ODE", "best SDE (NFE)",
               "Restart vs SDE"]
    rows, tally = [], {}
    for budget in sorted(b for b in results if b):
        row = results[budget]
        r = row["restart"]
        for metric in metrics:
            cells = [budget, METRIC_NAMES[metric], f"{_pm(r[metric])} ({r['nfe']})"]
            for fam in ("ode", "sde"):
                best = _best(row, fam, metric, family)
                verdict, rel = _verdict(r[metric], row[best][metric])
                tally.setdefault((metric, fam), []).append(f"{verdict} at {budget}")
                cells += [f"{best}: {_pm(row[best][metric])} ({row[best]['nfe']})",
                          f"**{verdict}** ({rel:+.0%})" if rel == rel else f"**{verdict}**"]
            rows.append(cells)
    summary = "\n".join(f"- {METRIC_NAMES[m]}, Restart vs best {fam.upper()}: " + ", ".join(v)
                        for (m, fam), v in tally.items())
    return (
        f"### Claim check, model `{model.name}`: does Restart beat the best ODE and SDE sampler at each budget?\n\n"
        "Paired over the seed blocks (same seeds for every sampler): **wins** / **loses** when Restart is better / "
        "worse in every block and the mean difference exceeds two standard errors, else **ties**; the percentage is "
        "the mean difference relative to the other sampler. The best ODE / SDE sampler is picked on these same "
        "blocks (a small advantage to those families, none to Restart).\n\n"
        + markdown_table(headers, rows) + "\n\n" + summary
    )


def curves_to_tensorboard(model: BenchModel, results: dict, log_dir: Path, family: dict[str, str]) -> None:
    """Metric against NFE: <metric>/<sampler> and <metric>_best/<family> (global_step = NFE)."""
    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(log_dir, ignore_errors=True)  # one run per directory: no overlaid old curves
    writer = SummaryWriter(str(log_dir))
    for budget in sorted(b for b in results if b):
        row = results[budget]
        for label, e in row.items():
            for metric in model.metrics:
                writer.add_scalar(f"{metric}/{label}", statistics.fmean(e[metric]), global_step=e["nfe"])
        for fam in ("ode", "sde", "restart"):
            for metric in model.metrics:
                best = _best(row, fam, metric, family)
                writer.add_scalar(f"{metric}_best/{fam}", statistics.fmean(row[best][metric]),
                                  global_step=row[best]["nfe"])
    writer.close()


def tuning_report(model: BenchModel, budget: int, rows: dict[str, list]) -> str:
    parts = [f"## `{model.name}` at {budget} NFE (objective {model.objective}, lower is better)"]
    for name, table in rows.items():
        shown = [[describe(c), fmt(s1), fmt(s2), c and _nfe(c)] for s1, s2, c in table[:8]]
        parts.append(f"{name}: {len(table)} configurations, best 8\n\n"
                     + markdown_table(["configuration", "stage 1", "stage 2", "NFE"], shown))
    return "\n\n".join(parts)


def _nfe(config: dict[str, Any]) -> int:
    from restart_lightning.sampling import build_sampler

    return build_sampler(**config).plan().nfe
