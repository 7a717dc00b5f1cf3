"""Logging evaluation results: scalars through Lightning, FID-vs-NFE curves, pictures, text lines.

Scalars go through ``LightningModule.log_dict``, so ``trainer.callback_metrics`` (ModelCheckpoint's
``monitor``, EarlyStopping), ``trainer.test()``'s return value and every logger see them. The
metrics are torchmetrics values that every rank has already synchronised (and the time is the
slowest rank's), so they are logged as they are, without a second reduction (``sync_dist=False``).

The quality-vs-NFE curves use the NFE as their step, which ``self.log`` cannot express (it logs
everything of a hook at one step), so they go to each logger's ``log_metrics`` directly, on rank 0.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from restart_lightning.evaluation.pictures import density_comparison, image_grid
from restart_lightning.evaluation.shares import count_label
from restart_lightning.sampling.registry import NamedSampler

_NOT_METRICS = ("label", "family", "nfe", "seconds")
# Hooks in which Lightning accepts self.log, and whether values there are per step.
_ON_STEP_HOOKS = ("on_train_batch_end",)


def metric_values(row: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k not in _NOT_METRICS}


def scalar_names(stage: str, label: str, n: int, metrics: list[str]) -> dict[str, str]:
    """metric -> logged name: ``{stage}/{metric}_{n}/{label}``, ``{stage}/nfe/{label}``,
    ``{stage}/sampling_seconds/{label}``."""
    count = count_label(n)
    names = {name: f"{stage}/{name}_{count}/{label}" for name in metrics}
    names["nfe"], names["seconds"] = f"{stage}/nfe/{label}", f"{stage}/sampling_seconds/{label}"
    return names


def silence_unsynced_warning(stage: str) -> None:
    """Lightning recommends ``sync_dist=True`` for epoch-level values under DDP; ours are synced already."""
    warnings.filterwarnings("ignore", message=rf"It is recommended to use `self.log\('{re.escape(stage)}/")


def log_scalars(pl_module, hook: str, stage: str, named: NamedSampler, row: dict[str, Any], n: int) -> None:
    """Every metric, the NFE and the sampling time of one sampler, through ``pl_module.log_dict``."""
    names = scalar_names(stage, named.label, n, list(metric_values(row)))
    values = {names[k]: float(v) for k, v in metric_values(row).items()}
    values[names["nfe"]], values[names["seconds"]] = float(row["nfe"]), float(row["seconds"])
    log_values(pl_module, hook, values)


def log_values(pl_module, hook: str, values: dict[str, float]) -> None:
    """``pl_module.log_dict`` of values every rank holds identically (no second reduction), from ``hook``."""
    on_step = hook in _ON_STEP_HOOKS
    pl_module.log_dict(values, on_step=on_step, on_epoch=not on_step, sync_dist=False, batch_size=1,
                       add_dataloader_idx=False)


def log_curves(trainer, stage: str, named: NamedSampler, row: dict[str, Any], n: int) -> None:
    """``{stage}/{metric}_{n}_vs_nfe/{family}`` at step = NFE: one quality-vs-NFE curve per family."""
    count = count_label(n)
    curve = {f"{stage}/{name}_{count}_vs_nfe/{named.family}": v for name, v in metric_values(row).items()}
    for logger in trainer.loggers:
        logger.log_metrics(curve, step=int(row["nfe"]))


def logged_step(trainer, hook: str) -> int:
    """The step Lightning writes this hook's ``self.log`` values at, so that pictures line up with them
    (the count of optimizer batches before the current one; ``trainer.global_step`` where unknown)."""
    stepped = getattr(getattr(trainer.fit_loop, "epoch_loop", None), "_batches_that_stepped", None)
    if not isinstance(stepped, int):
        return trainer.global_step
    return stepped - 1 if hook == "on_train_epoch_end" else stepped


def log_pictures(trainer, hook: str, stage: str, label: str, samples: Tensor, reference: Tensor | None,
                 num_pictures: int) -> None:
    """An image grid (images) or the sample density beside the data's (2-D points), rank 0 only.

    TensorBoard gets an image summary ``{stage}_samples/{label}``; a logger with ``log_image``
    (e.g. Weights & Biases) gets it that way; any other logger with a directory (CSV, ...) a PNG file
    ``{log_dir}/pictures/{stage}_samples/{label}/step<k>.png``.
    """
    if trainer.global_rank != 0 or samples.numel() == 0:
        return
    if samples.ndim == 4:
        picture = image_grid(samples[:num_pictures])
    elif reference is not None and samples.ndim == 2 and samples.shape[1] == 2:
        picture = density_comparison(samples, reference)
    else:
        return
    tag, step = f"{stage}_samples/{label}", logged_step(trainer, hook)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, picture, step)
        elif callable(getattr(logger, "log_image", None)):
            logger.log_image(key=tag, images=[picture.permute(1, 2, 0).numpy()], step=step)
        elif getattr(logger, "log_dir", None):
            _write_png(Path(logger.log_dir) / "pictures" / tag / f"step{step:07d}.png", picture)


def _write_png(path: Path, picture: Tensor) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    array = picture.permute(1, 2, 0).numpy()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def results_line(row: dict[str, Any], n: int) -> str:
    """One line per sampler: ``heun (heun, 45 NFE, n=4000): frechet 0.0123, ... in 2.1 s``."""
    metrics = ", ".join(f"{name} {value:.4g}" for name, value in metric_values(row).items())
    return f"{row['label']} ({row['family']}, {row['nfe']} NFE, n={n}): {metrics} in {row['seconds']:.1f} s"


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
