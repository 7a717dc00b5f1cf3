"""Pure-PyTorch diffusion samplers over a denoiser D(x, sigma, labels=None) -> x0_hat.

ODE: ``Euler``, ``Heun`` (EDM Alg. 1), ``DPMSolverPP2M``; SDE: ``EDMStochastic`` (EDM Alg. 2),
``EulerMaruyama``, ``EulerAncestral``; and ``Restart`` (Xu et al. 2023, Alg. 2).
Each sampler prints its ``plan`` before it runs and is called as
``sampler(denoiser, latents, seeds=...) -> SampleResult(samples, nfe, plan)``.
"""

from .base import Sampler, SampleResult
from .noise import NoiseSource
from .ode import DPMSolverPP2M, Euler, Heun
from .plan import Noise, Plan, Step
from .registry import SAMPLERS, NamedSampler, build_sampler, load_sampler_preset, parse_sampler_specs, sampler_options
from .restart import Restart, RestartInterval
from .schedules import SCHEDULES, get_sigmas, karras_sigmas, loglinear_sigmas, ve_sigmas, vp_sigmas
from .sde import EDMStochastic, EulerAncestral, EulerMaruyama

__all__ = [
    "SAMPLERS",
    "SCHEDULES",
    "DPMSolverPP2M",
    "EDMStochastic",
    "Euler",
    "EulerAncestral",
    "EulerMaruyama",
    "Heun",
    "NamedSampler",
    "Noise",
    "NoiseSource",
    "Plan",
    "Restart",
    "RestartInterval",
    "SampleResult",
    "Sampler",
    "Step",
    "build_sampler",
    "get_sigmas",
    "karras_sigmas",
    "load_sampler_preset",
    "loglinear_sigmas",
    "parse_sampler_specs",
    "sampler_options",
    "ve_sigmas",
    "vp_sigmas",
]
