"""What ``diagnose`` needs from a module and a datamodule, and the tables it prints.

- ``held_out_data``: points the model never trained on. Toy data: fresh points from stream
  ``DIAGNOSE_DATA_SEED`` of ``reference_samples`` (training uses streams 0, 1, ... per rank, the
  validation loss stream -1, the metrics' reference points stream -2); other data: the validation
  (else test) dataloader's first n points.
- ``loss_weight_of``: the module's training loss weight (the one formula in ``restart_lightning.losses``).
- ``sigma_range``: the sigmas the model's sampler visits (its main grid's lowest positive and highest).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from restart_lightning.module import split_batch
from restart_lightning.tuning.error_profile import ErrorProfile
from restart_lightning.tuning.hybrid import HybridSplit

DIAGNOSE_DATA_SEED = 2  # reference_samples(n, seed=2): a stream neither training nor the metrics use


def held_out_data(datamodule: Any, n: int) -> tuple[Tensor, Tensor | None, str]:
    """(points [n, ...], labels or None, where they come from) for the error profile."""
    if callable(getattr(datamodule, "reference_samples", None)):
        points = datamodule.reference_samples(n, seed=DIAGNOSE_DATA_SEED)
        return points, None, f"{n} fresh points (stream {DIAGNOSE_DATA_SEED}, disjoint from training)"
    for stage, loader_name in (("validate", "val_dataloader"), ("test", "test_dataloader")):
        loader_fn = getattr(datamodule, loader_name, None)
        if not callable(loader_fn):
            continue
        datamodule.setup(stage)
        try:
            loader = loader_fn()
        except (NotImplementedError, TypeError):
            continue
        data, labels = [], []
        for batch in loader:
            x, y = split_batch(batch)
            data.append(x)
            if y is not None:
                labels.append(y)
            if sum(d.shape[0] for d in data) >= n:
                break
        if data:
            points = torch.cat(data)[:n]
            label_tensor = torch.cat(labels)[:n] if labels and getattr(datamodule, "num_classes", 0) else None
            return points, label_tensor, f"{points.shape[0]} points of the {loader_name.split('_')[0]} set"
    raise ValueError("diagnose: the datamodule has neither reference_samples nor a validation or test dataloader; "
                     "allowed: a datamodule with held-out data")


def loss_weight_of(module: Any, denoiser: Any):
    """(weight function, its description): the module's training loss weight, else EDM's for its sigma_data."""
    loss_fn = getattr(module, "loss_fn", None)
    if loss_fn is not None and callable(getattr(loss_fn, "weight", None)):
        return loss_fn.weight, f"the training loss's weight ({getattr(loss_fn, 'name', type(loss_fn).__name__)})"
    from restart_lightning.losses import EDMLoss

    sigma_data = float(getattr(denoiser, "sigma_data", 0.5))
    return EDMLoss(sigma_data=sigma_data).weight, f"EDM's weight at sigma_data {sigma_data:g} (no training loss known)"


def sigma_range(sampler: Any, denoiser: Any) -> tuple[float, float]:
    """The lowest positive and the highest sigma of ``sampler``'s main grid on ``denoiser``."""
    grid = [float(s) for s in sampler.sigmas(denoiser).tolist() if s > 0]
    return min(grid), max(grid)


def profile_table(profile: ErrorProfile) -> str:
    """Markdown: sigma, loss +- stderr, exact loss, excess +- stderr, share of the excess mass."""
    exact = profile.exact_loss
    header = ["sigma", "loss", "stderr"]
    header += ["exact loss", "excess", "excess stderr", "share"] if exact is not None else ["share"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    excess, shares = profile.excess(), profile.shares()
    for i, sigma in enumerate(profile.sigmas):
        cells = [f"{sigma:.4g}", f"{profile.loss[i]:.4f}", f"{profile.stderr[i]:.4f}"]
        if exact is not None:
            cells += [f"{exact[i]:.4f}", f"{excess[i]:.4f}", f"{profile.excess_stderr[i]:.4f}"]
        cells.append(f"{100 * shares[i]:.1f}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sigma(value: float) -> str:
    return "0" if value == 0 else ("inf" if math.isinf(value) else f"{value:.3g}")


def hybrid_table(split: HybridSplit) -> str:
    """Markdown: the floor, discretization and approximation per metric, then the approximation per band."""
    metrics = split.metrics
    lines = ["| | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    rows = [
        ("data (the metric's floor)", [split.data[m] for m in metrics]),
        ("exact denoiser everywhere", [split.exact[m] for m in metrics]),
        ("learned denoiser everywhere", [split.learned[m] for m in metrics]),
        ("discretization error (exact - data)", [split.discretization(m) for m in metrics]),
        ("approximation error (learned - exact)", [split.approximation(m) for m in metrics]),
    ]
    lines += [f"| {name} | " + " | ".join(f"{v:.4g}" for v in values) + " |" for name, values in rows]
    lines += ["", "Approximation error per sigma band (learned above / learned below the band's cuts):", ""]
    header = ["sigma band"] + [f"{m} (above / below)" for m in metrics]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(metrics)]
    per_metric = {m: split.bands(m) for m in metrics}
    for i, (lo, hi, _, _) in enumerate(per_metric[metrics[0]]):
        cells = [f"{per_metric[m][i][2]:+.4f} / {per_metric[m][i][3]:+.4f}" for m in metrics]
        lines.append(f"| ({_sigma(lo)}, {_sigma(hi)}] | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["DIAGNOSE_DATA_SEED", "held_out_data", "hybrid_table", "loss_weight_of", "profile_table", "sigma_range"]
