"""Old import path of ``draw_labels``, which lives with the per-sample noise in ``restart_lightning.sampling.noise``.

Kept for code outside the package (the benchmarks) and branches that still import it from here.
"""

from restart_lightning.sampling.noise import draw_labels

__all__ = ["draw_labels"]
