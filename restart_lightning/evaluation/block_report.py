"""Reporting seed-block uncertainty: the per-block table, paired differences, TensorBoard scalars.

``blocks`` maps a sampler's label to {metric: [value on block 0, ..., block B-1]}, every value
at ``block_size`` samples (``MetricSuite.compute_blocks``). The first sampler is the baseline
of the paired comparisons. Scalars (logged through Lightning, like every metric), with c the block size as in every
metric name (``count_label``):

- ``{stage}/{metric}_{c}_mean/{label}``, ``..._std/{label}``, ``..._ci95/{label}`` (t half-width);
- ``{stage}/{metric}_{c}_diff_vs_{baseline}/{label}`` and ``..._diff_ci95_vs_{baseline}/{label}``.
"""

from __future__ import annotations

from typing import Any

from restart_lightning.evaluation.logging import log_values
from restart_lightning.evaluation.shares import count_label
from restart_lightning.evaluation.uncertainty import Spread, paired_difference, summarize

Blocks = dict[str, dict[str, list[float]]]


def _cell(spread: Spread, paired: bool = False) -> str:
    interval = f"[{spread.low:.4g}, {spread.high:.4g}]"
    if paired:
        return f"{spread.mean:+.4g} {interval}" + (" *" if spread.excludes_zero() else "")
    return f"{spread.mean:.4g} ± {spread.std:.3g} {interval}"


def block_tables(rows: list[dict[str, Any]], blocks: Blocks, block_size: int) -> str:
    """Markdown: every sampler's block mean ± std [95% interval], then the paired differences to the first."""
    labels = [row["label"] for row in rows if row["label"] in blocks]
    if not labels:
        return ""
    nfe = {row["label"]: row["nfe"] for row in rows}
    metrics = list(blocks[labels[0]])
    num_blocks = len(next(iter(blocks[labels[0]].values()), []))
    c = count_label(block_size)
    names = [f"{m}_{c}" for m in metrics]
    lines = [f"Seed blocks: {num_blocks} blocks of {block_size} consecutive seeds; each metric at {block_size} "
             "samples per block: mean ± std over blocks [95% t-interval of the mean]", "",
             "| sampler | NFE | blocks | " + " | ".join(names) + " |", "|" + "---|" * (3 + len(names))]
    for label in labels:
        cells = [_cell(summarize(blocks[label][m])) for m in metrics]
        lines.append(f"| {label} | {nfe[label]} | {num_blocks} x {block_size} | " + " | ".join(cells) + " |")
    if len(labels) > 1:
        base = labels[0]
        lines += ["", f"Paired differences to {base} on the same seed blocks (sampler - {base}): mean "
                  "[95% t-interval]; * = the interval excludes 0", "",
                  "| sampler | NFE | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(names))]
        for label in labels[1:]:
            cells = [_cell(paired_difference(blocks[label][m], blocks[base][m]), paired=True) for m in metrics]
            lines.append(f"| {label} | {nfe[label]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def block_scalars(stage: str, blocks: Blocks, block_size: int) -> dict[str, float]:
    """The scalars named in the module docstring."""
    labels = list(blocks)
    c = count_label(block_size)
    scalars: dict[str, float] = {}
    for label in labels:
        for metric, values in blocks[label].items():
            spread = summarize(values)
            scalars[f"{stage}/{metric}_{c}_mean/{label}"] = spread.mean
            scalars[f"{stage}/{metric}_{c}_std/{label}"] = spread.std
            scalars[f"{stage}/{metric}_{c}_ci95/{label}"] = spread.half_width
    base = labels[0] if labels else None
    for label in labels[1:]:
        for metric, values in blocks[label].items():
            diff = paired_difference(values, blocks[base][metric])
            scalars[f"{stage}/{metric}_{c}_diff_vs_{base}/{label}"] = diff.mean
            scalars[f"{stage}/{metric}_{c}_diff_ci95_vs_{base}/{label}"] = diff.half_width
    return scalars


def log_block_scalars(pl_module, hook: str, stage: str, blocks: Blocks, block_size: int) -> None:
    """``block_scalars`` through Lightning (``trainer.test()``'s results and every logger; see evaluation.logging)."""
    log_values(pl_module, hook, block_scalars(stage, blocks, block_size))
