"""What the sampler-evaluation callback orchestrates: sampler specs, shares, metrics, pictures, files."""

from restart_lightning.evaluation.shares import rank_share
from restart_lightning.evaluation.specs import NamedSampler, parse_sampler_specs

__all__ = ["NamedSampler", "parse_sampler_specs", "rank_share"]
