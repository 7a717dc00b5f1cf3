"""Old import path of the sampler-spec parser, which lives in ``restart_lightning.sampling.registry``.

Kept for code outside the package (the benchmarks) and branches that still import it from here
(``_load_spec`` was the private name of ``load_spec``).
"""

from restart_lightning.sampling.registry import NamedSampler, load_spec, parse_sampler_specs

_load_spec = load_spec

__all__ = ["NamedSampler", "load_spec", "parse_sampler_specs"]
