"""Old import path of the sampler-spec parser, which lives in ``restart_lightning.sampling.registry``.

Kept for code outside the package (the benchmarks) and branches that still import it from here.
"""

from restart_lightning.sampling.registry import NamedSampler, parse_sampler_specs

__all__ = ["NamedSampler", "parse_sampler_specs"]
