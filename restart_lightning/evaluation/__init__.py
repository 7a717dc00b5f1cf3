"""What the sampler-evaluation callback orchestrates: sampler specs, shares, metrics, pictures, files."""

from restart_lightning.evaluation.specs import NamedSampler, parse_sampler_specs
from restart_lightning.evaluation.shares import rank_share

__all__ = ["NamedSampler", "parse_sampler_specs", "rank_share"]
