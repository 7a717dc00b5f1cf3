"""Logging evaluation results: scalars per sampler, FID-vs-NFE curves, pictures, a text table."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from restart_lightning.evaluation.pictures import density_comparison, image_grid
from restart_lightning.evaluation.shares import count_label
from restart_lightning.evaluation.specs import NamedSampler

_NOT_METRICS = ("label", "family", "nfe", "seconds")


def metric_values(row: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k not in _NOT_METRICS}


def log_scalars(trainer, stage: str, named: NamedSampler, row: dict[str, Any], n: int, curves: bool) -> None:
    """``{stage}/{metric}_{n}/{label}``, ``{stage}/nfe/{label}``, ``{stage}/sampling_seconds/{label}``;
    with ``curves``, also ``{stage}/{metric}_{n}_vs_nfe/{family}`` at step = NFE."""
    count = count_label(n)
    scalars = {f"{stage}/{name}_{count}/{named.label}": value for name, value in metric_values(row).items()}
    scalars[f"{stage}/nfe/{named.label}"] = float(row["nfe"])
    scalars[f"{stage}/sampling_seconds/{named.label}"] = row["seconds"]
    for logger in trainer.loggers:
        logger.log_metrics(scalars, step=trainer.global_step)
        if curves:
            curve = {f"{stage}/{name}_{count}_vs_nfe/{named.family}": v for name, v in metric_values(row).items()}
            logger.log_metrics(curve, step=int(row["nfe"]))


def log_pictures(trainer, stage: str, label: str, samples: Tensor, reference: Tensor | None, num_pictures: int) -> None:
    """An image grid (images) or the sample density beside the data's (2-D points), rank 0 only."""
    if trainer.global_rank != 0 or samples.numel() == 0:
        return
    if samples.ndim == 4:
        picture = image_grid(samples[:num_pictures])
    elif reference is not None and samples.ndim == 2 and samples.shape[1] == 2:
        picture = density_comparison(samples, reference)
    else:
        return
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(f"{stage}_samples/{label}", picture, trainer.global_step)


def results_table(rows: list[dict[str, Any]], n: int) -> str:
    """A markdown table: one row per sampler with its NFE, n and every metric."""
    if not rows:
        return "(no results)"
    names = list(metric_values(rows[0]))
    header = ["sampler", "family", "NFE", "n", *names, "seconds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["label"], row["family"], str(row["nfe"]), str(n)]
        cells += [f"{row[k]:.4g}" for k in names] + [f"{row['seconds']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
