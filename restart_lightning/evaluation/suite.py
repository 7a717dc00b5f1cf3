"""The evaluation's metrics as one object: features once per sample, shared by every metric of their space.

Each feature extractor (Inception, DINOv2, identity, a user network) runs once per batch; every
metric working in its feature space receives the same features (FID, KID and precision/recall
share one Inception pass). Metrics that read the samples themselves (toy metrics, CLIP score)
receive the samples, and labels when they ask for them.

For uncertainty, ``enable_seed_blocks(B)`` adds B copies of every metric; the copy b sees only the
samples of seed block b (``evaluation.uncertainty.seed_blocks``), from the same features. Copies
share what does not change (feature networks, real features and what is derived from them).

Every metric is a torchmetrics ``Metric`` and syncs over DDP when computed, so ``compute`` and
``compute_blocks`` must run on every process, as ``update`` may with an empty batch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from restart_lightning.evaluation.uncertainty import block_of, block_size
from restart_lightning.metrics.real_features import RealFeatures

SAMPLES = "samples"  # the source of metrics that read the samples themselves


@dataclass(frozen=True)
class _Entry:
    source: str  # SAMPLES or an extractor's key
    outputs: dict[str | None, str]  # compute() key (None: a scalar) -> reported name
    takes_labels: bool


def _shared_objects(metric: Metric) -> list[object]:
    """What a seed-block copy of ``metric`` shares with it instead of copying."""
    shared: list[object] = [v for v in vars(metric).values() if isinstance(v, RealFeatures)]
    shared += [m for m in metric.children() if not isinstance(m, Metric) and any(True for _ in m.parameters())]
    shared += [getattr(metric, name) for name in ("processor",) if hasattr(metric, name)]
    return shared


class MetricSuite(nn.Module):
    """Extractors, the metrics on their features, and optional seed-block copies of the metrics.

    Args:
        num_samples: n, the samples of one evaluation (seed blocks cut 0..n-1).

    Build with ``add_extractor`` and ``add``; the reported names keep the order of ``add`` unless
    ``order`` says otherwise.
    """

    def __init__(self, num_samples: int) -> None:
        super().__init__()
        self.num_samples = int(num_samples)
        self.extractors = nn.ModuleDict()
        self.metrics = nn.ModuleList()
        self.block_copies = nn.ModuleList()  # [B] x ModuleList parallel to self.metrics
        self._entries: list[_Entry] = []
        self._order: list[str] = []

    # ------------------------------------------------------------------ building
    def add_extractor(self, key: str, extractor: nn.Module) -> None:
        if key == SAMPLES or key in self.extractors:
            raise ValueError(f"extractor key {key!r} is taken")
        self.extractors[key] = extractor

    def add(self, names: str | dict[str, str], metric: Metric, source: str = SAMPLES, labels: bool = False) -> None:
        """``names``: the reported name of a scalar metric, or {compute() key: reported name} of a dict metric."""
        if self.block_copies:
            raise RuntimeError("add metrics before enable_seed_blocks")
        if source != SAMPLES and source not in self.extractors:
            raise ValueError(f"unknown feature source {source!r}; add_extractor first")
        outputs = {None: names} if isinstance(names, str) else dict(names)
        taken = set(self._order) & set(outputs.values())
        if taken:
            raise ValueError(f"metric name(s) {sorted(taken)} already in the suite")
        self.metrics.append(metric)
        self._entries.append(_Entry(source, outputs, labels))
        self._order += list(outputs.values())

    def order(self, names: list[str]) -> None:
        """Report exactly ``names``, in this order (each must be produced by a metric of the suite)."""
        missing = [n for n in names if n not in self._order]
        if missing:
            raise ValueError(f"metrics {missing} are not in the suite ({', '.join(self._order)})")
        self._order = list(names)

    def enable_seed_blocks(self, num_blocks: int) -> None:
        """B copies of every metric, copy b fed with seed block b only (blocks of n // B seeds)."""
        block_size(self.num_samples, num_blocks)  # ValueError for too many blocks
        self.block_copies = nn.ModuleList()
        for _ in range(num_blocks):
            copies = []
            for metric in self.metrics:
                memo = {id(obj): obj for obj in _shared_objects(metric)}
                copies.append(copy.deepcopy(metric, memo))
            self.block_copies.append(nn.ModuleList(copies))

    # ------------------------------------------------------------------ reading
    @property
    def names(self) -> list[str]:
        return list(self._order)

    @property
    def num_blocks(self) -> int:
        return len(self.block_copies)

    @property
    def block_size(self) -> int:
        return block_size(self.num_samples, self.num_blocks) if self.block_copies else self.num_samples

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __getitem__(self, name: str) -> Metric:
        """The metric that reports ``name``."""
        for metric, entry in zip(self.metrics, self._entries, strict=True):
            if name in entry.outputs.values():
                return metric
        raise KeyError(f"{name!r} is not in the suite ({', '.join(self._order)})")

    def keys(self) -> list[str]:
        return self.names

    def items(self) -> list[tuple[str, Metric]]:
        """(first reported name, metric) of every metric, each once."""
        return [(next(iter(entry.outputs.values())), metric) for metric, entry in zip(self.metrics, self._entries,
                                                                                        strict=True)]

    # ------------------------------------------------------------------ evaluation
    def reset(self) -> None:
        for metric in self.metrics:
            metric.reset()
        for copies in self.block_copies:
            for metric in copies:
                metric.reset()

    @torch.no_grad()
    def update(self, samples: Tensor, labels: Tensor | None = None, indices: Tensor | None = None) -> None:
        """Add a batch: features once per extractor; with ``indices`` (global sample indices 0..n-1, one
        per sample) also to the seed-block copies."""
        inputs = {SAMPLES: samples}
        used = {entry.source for entry in self._entries}
        for key, extractor in self.extractors.items():
            if key in used:
                inputs[key] = extractor(samples)
        for metric, entry in zip(self.metrics, self._entries, strict=True):
            self._feed(metric, entry, inputs, labels, None)
        if indices is None or not self.block_copies:
            return
        indices = torch.as_tensor(indices, device=samples.device)
        if indices.shape != samples.shape[:1]:
            raise ValueError(f"indices {tuple(indices.shape)} do not match the batch of {samples.shape[0]} samples")
        blocks = block_of(indices, self.num_samples, self.num_blocks)
        for b, copies in enumerate(self.block_copies):
            rows = (blocks == b).nonzero().flatten()  # empty rows too: every process updates every copy
            for metric, entry in zip(copies, self._entries, strict=True):
                self._feed(metric, entry, inputs, labels, rows)

    @staticmethod
    def _feed(metric: Metric, entry: _Entry, inputs: dict[str, Tensor], labels: Tensor | None,
              rows: Tensor | None) -> None:
        x = inputs[entry.source]
        x = x if rows is None else x[rows]
        if entry.takes_labels:
            metric.update(x, labels=None if labels is None else (labels if rows is None else labels[rows]))
        else:
            metric.update(x)

    def _values(self, metrics) -> dict[str, Tensor]:
        values: dict[str, Tensor] = {}
        for metric, entry in zip(metrics, self._entries, strict=True):
            if not any(name in self._order for name in entry.outputs.values()):
                continue
            out = metric.compute()
            for key, name in entry.outputs.items():
                values[name] = out if key is None else out[key]
        return {name: values[name] for name in self._order}

    def compute(self) -> dict[str, Tensor]:
        """Every reported metric on all samples, in report order."""
        return self._values(self.metrics)

    def compute_blocks(self) -> dict[str, list[float]]:
        """name -> [value on block 0, ..., value on block B-1] (each at ``block_size`` samples)."""
        per_block = [self._values(copies) for copies in self.block_copies]
        return {name: [float(values[name]) for values in per_block] for name in self._order}

    def score(self, samples: Tensor, labels: Tensor | None = None) -> dict[str, float]:
        """reset, update, compute: every metric of one set of samples (one process)."""
        self.reset()
        self.update(samples, labels)
        return {name: float(value) for name, value in self.compute().items()}
