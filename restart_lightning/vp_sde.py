"""The variance-preserving SDE (Song et al. 2021) in the sigma parameterisation: sigma(t) and its inverse.

sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1). The VP preconditioning and loss (training)
and the VP discretization of the samplers all read it from here; each passes its own beta_d and
beta_min (the sampler refits them to the clamped sigma range).
"""

from __future__ import annotations

import math

from torch import Tensor

#: Song et al. 2021's beta(t) = beta_min + beta_d t.
BETA_D = 19.9
BETA_MIN = 0.1


def vp_sigma(t: float | Tensor, beta_d: float = BETA_D, beta_min: float = BETA_MIN) -> float | Tensor:
    """sigma(t) of the VP SDE: a tensor for a tensor t, a float (through expm1) for a number."""
    if isinstance(t, Tensor):
        return ((0.5 * beta_d * t**2 + beta_min * t).exp() - 1).sqrt()
    return math.sqrt(math.expm1(0.5 * beta_d * t**2 + beta_min * t))


def vp_t(sigma: Tensor, beta_d: float = BETA_D, beta_min: float = BETA_MIN) -> Tensor:
    """The inverse of ``vp_sigma``: t(sigma) = (sqrt(beta_min^2 + 2 beta_d ln(1 + sigma^2)) - beta_min) / beta_d."""
    return ((beta_min**2 + 2 * beta_d * (1 + sigma**2).log()).sqrt() - beta_min) / beta_d
