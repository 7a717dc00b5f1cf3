"""Improved precision and recall (Kynkaanniemi et al. 2019): k-nearest-neighbour manifolds in feature space.

A set's manifold is the union of balls around its points, the ball of point a having as radius
the distance from a to its k-th nearest other point of the same set (k = 3 in the paper):

    precision = fraction of generated samples inside the real manifold   (are samples realistic?)
    recall    = fraction of real samples inside the generated manifold   (is the data covered?)

Both depend on the set sizes (more points, smaller balls), so, as in the paper, the real set
is as large as the generated one: a fixed random subset of the reference (all of it when it is
smaller), the same on every rank. A point on a ball's boundary counts as inside.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from restart_lightning.metrics.real_features import RealFeatures, stacked_features

# Elements of one chunk of a distance matrix (float64: 128 MiB).
CHUNK_ELEMENTS = 2**24


def _row_chunks(a: Tensor, columns: int) -> tuple[Tensor, ...]:
    return a.split(max(1, CHUNK_ELEMENTS // max(1, columns)))


def knn_radii(points: Tensor, k: int) -> Tensor:
    """[n] distance from each point to its k-th nearest other point of ``points`` (float64)."""
    if points.shape[0] <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} points, got {points.shape[0]}.")
    points = points.double()
    # The (k+1)-th smallest distance of a row: the point itself is the first, at distance 0.
    return torch.cat([torch.cdist(block, points).kthvalue(k + 1, dim=1).values
                      for block in _row_chunks(points, points.shape[0])])


def fraction_inside(queries: Tensor, centers: Tensor, radii: Tensor) -> Tensor:
    """Fraction of ``queries`` within ``radii[j]`` of some ``centers[j]`` (float64 scalar)."""
    centers, radii = centers.double(), radii.double()
    inside = [(torch.cdist(block.double(), centers) <= radii).any(dim=1)
              for block in _row_chunks(queries, centers.shape[0])]
    return torch.cat(inside).double().mean()


class PrecisionRecall(Metric):
    """Improved precision and recall of generated features against real features.

    Args:
        reference: real features [m, d] (a ``RealFeatures`` shares them, and their k-NN radii,
            between metrics); or ``set_reference`` later.
        k: neighbourhood size (3, the paper's choice).
        seed: seed of the random real subset (of the generated set's size).

    ``update`` takes features [B, d]; ``compute()`` returns ``{"precision": p, "recall": r}``
    (float64 scalars in [0, 1]).
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    def __init__(self, reference: RealFeatures | Tensor | None = None, k: int = 3, seed: int = 0) -> None:
        super().__init__()
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f"precision/recall k must be an int >= 1, got {k!r}")
        self.k, self.seed = k, int(seed)
        self.reference: RealFeatures | None = None
        if reference is not None:
            self.set_reference(reference)
        self.add_state("features", [], dist_reduce_fx="cat")

    def set_reference(self, reference: RealFeatures | Tensor) -> None:
        self.reference = reference if isinstance(reference, RealFeatures) else RealFeatures(reference)

    def update(self, features: Tensor) -> None:
        self.features.append(features.detach().flatten(1).float())

    def real_subset(self, size: int, device: torch.device | str) -> Tensor:
        """The real points used against ``size`` generated ones: a seeded random subset of that size."""
        assert self.reference is not None
        reference = self.reference

        def subset(x: Tensor) -> Tensor:
            order = torch.randperm(reference.num_samples, generator=torch.Generator().manual_seed(self.seed))
            return x[order[: min(size, reference.num_samples)].to(x.device)]

        return reference.derived(("subset", size, self.seed), device, subset)

    def compute(self) -> dict[str, Tensor]:
        if self.reference is None:
            raise RuntimeError("PrecisionRecall has no real features; call set_reference(...) before compute().")
        generated = stacked_features(self.features, self.reference.dim)
        if generated.shape[0] <= self.k:
            raise RuntimeError(f"precision/recall with k={self.k} need more than {self.k} generated samples, "
                               f"got {generated.shape[0]}.")
        n, device = generated.shape[0], generated.device
        real = self.real_subset(n, device)
        real_radii = self.reference.derived(("knn_radii", self.k, n, self.seed), device,
                                            lambda _: knn_radii(real, self.k))
        return {
            "precision": fraction_inside(generated, real, real_radii),
            "recall": fraction_inside(real, generated, knn_radii(generated, self.k)),
        }
