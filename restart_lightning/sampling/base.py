"""The Sampler base class: schedule options, ``plan`` and ``__call__``.

A sampler is a small class built from plain typed keyword options: the names used in YAML
presets and on the command line (LightningCLI builds it from ``class_path``/``init_args``).
Subclasses implement one method, ``build_ops(sigmas)``, turning the main sigma grid into a
list of Step/Noise ops; ``__call__`` executes exactly that plan.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence

import torch
from torch import Tensor

from .execute import DenoiserFn, resolve_model_dtype, run_plan
from .noise import NoiseSource
from .plan import Op, Plan
from .plan import nfe_per_call as denoiser_nfe_per_call
from .schedules import SCHEDULES, get_sigmas

# The longest plan a sampler may build: far beyond any published configuration (EDM and Restart use at
# most a few thousand steps), small enough that the plan and its timings fit into memory at once.
MAX_PLAN_STEPS = 100_000


def check_option(name: str, value: Any, ok: bool, allowed: str) -> None:
    """ValueError naming option ``name``, its bad ``value`` and what is ``allowed``, unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} = {value!r} is invalid; allowed: {allowed}")


def is_int(value: Any) -> bool:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A finite real number (int or float, not a bool, not NaN or +-inf)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_real(value: Any) -> bool:
    """A real number that may be +-inf (not a bool, not NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


@dataclass(frozen=True)
class SampleResult:
    """``samples``: float64 [B, ...] at sigma = 0; ``nfe``: network evaluations spent; ``plan``: what ran."""

    samples: Tensor
    nfe: int
    plan: Plan


class Sampler:
    """Options shared by all samplers: the main schedule.

    Args:
        num_steps: N, the number of main steps (N + 1 grid points, the last one 0).
        schedule: discretization: ``edm`` (rho schedule), ``vp``, ``ve`` or ``loglinear``.
        sigma_min: lowest positive sigma (None: the schedule's default, 0.002 for edm).
        sigma_max: highest sigma (None: the schedule's default, 80 for edm).
        rho: exponent of the edm schedule.
    Both ends are clamped to the denoiser's ``sigma_min``/``sigma_max`` attributes if it has them.
    Subclasses set their own options, then call this constructor, which validates them all.
    """

    name: ClassVar[str] = "base"

    def __init__(
        self,
        num_steps: int = 18,
        schedule: str = "edm",
        sigma_min: Optional[float] = None,
        sigma_max: Optional[float] = None,
        rho: float = 7.0,
    ) -> None:
        self.num_steps, self.schedule, self.rho = num_steps, schedule, rho
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        check_option("num_steps", num_steps, is_int(num_steps) and 1 <= num_steps <= MAX_PLAN_STEPS,
                     f"an int in [1, {MAX_PLAN_STEPS}]")
        check_option("schedule", schedule, isinstance(schedule, str) and schedule in SCHEDULES,
                     f"one of {', '.join(SCHEDULES)}")
        check_option("sigma_min", sigma_min, sigma_min is None or (is_finite(sigma_min) and sigma_min > 0),
                     "None or a finite number > 0")
        low = sigma_min if is_finite(sigma_min) else 0
        check_option("sigma_max", sigma_max, sigma_max is None or (is_finite(sigma_max) and sigma_max > low),
                     f"None or a finite number > sigma_min (= {sigma_min})")
        check_option("rho", rho, is_finite(rho) and rho > 0, "a finite number > 0")
        self.validate()
        self.plan()  # fail at construction if no plan can be built on the default range

    @classmethod
    def options(cls) -> list[str]:
        """The constructor's keyword options, in order."""
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def validate(self) -> None:
        """Check the subclass's own options (ValueError naming the option)."""

    def build_ops(self, sigmas: list[float]) -> list[Op]:
        """The ops of this sampler along the main grid ``sigmas`` (descending, ending in 0)."""
        raise NotImplementedError

    def sigmas(
        self, denoiser: Any = None, *, sigma_min: Optional[float] = None, sigma_max: Optional[float] = None
    ) -> Tensor:
        """The main grid, float64 [N + 1], clamped to the valid range (see ``plan``)."""
        valid_min = sigma_min if sigma_min is not None else float(getattr(denoiser, "sigma_min", 0.0))
        valid_max = sigma_max if sigma_max is not None else float(getattr(denoiser, "sigma_max", math.inf))
        return get_sigmas(
            self.schedule, self.num_steps, self.sigma_min, self.sigma_max, self.rho,
            valid_min=valid_min, valid_max=valid_max,
        )

    def plan(
        self,
        denoiser: Any = None,
        *,
        sigma_min: Optional[float] = None,
        sigma_max: Optional[float] = None,
        nfe_per_call: Optional[int] = None,
    ) -> Plan:
        """Every step and noise injection this sampler will make, without calling the network.

        The valid sigma range and NFE per call are read from the denoiser's ``sigma_min``,
        ``sigma_max`` and ``nfe_per_call`` attributes (defaults 0, inf, 1), or given directly.
        """
        if nfe_per_call is None:
            nfe_per_call = denoiser_nfe_per_call(denoiser)
        grid = self.sigmas(denoiser, sigma_min=sigma_min, sigma_max=sigma_max).tolist()
        return Plan(self.name, tuple(self.build_ops(grid)), nfe_per_call)

    def __call__(
        self,
        denoiser: DenoiserFn,
        latents: Optional[Tensor] = None,
        *,
        seeds: Optional[Sequence[int]] = None,
        shape: Optional[Sequence[int]] = None,
        labels: Optional[Tensor] = None,
        noise: Optional[NoiseSource] = None,
        model_dtype: Optional[torch.dtype] = None,
        device: Optional[torch.device | str] = None,
    ) -> SampleResult:
        """Draw samples: ``D(x, sigma, labels=None) -> x0_hat`` from standard-normal ``latents`` [B, ...].

        Without latents, pass the per-sample ``shape`` and ``seeds`` (or ``noise``): latents
        are drawn from the per-sample noise source on ``device`` (default cpu). Noise injections
        come from ``noise`` if given, else from NoiseSource(seeds, latents.device) with seeds
        defaulting to range(B), advanced past one latent-sized draw so that passing
        ``NoiseSource(seeds).randn(shape)`` as latents gives the same samples as ``shape=``
        (the stream of each sample is defined in ``restart_lightning.sampling.noise``). A
        NoiseSource serves one call: its generators are released once the plan's noise is drawn.
        ``model_dtype``: see ``resolve_model_dtype``. Latents are scaled by the first sigma here.
        """
        plan = self.plan(denoiser)
        count = len(plan.noise_injections)
        if latents is None:
            if shape is None or (seeds is None and noise is None):
                raise ValueError("pass latents, or a per-sample shape together with seeds (or a NoiseSource)")
            noise = noise if noise is not None else NoiseSource(seeds, device or "cpu")
            latents, injections = noise.draw(shape, count)
        elif noise is None:
            noise = NoiseSource(range(latents.shape[0]) if seeds is None else seeds, latents.device)
            # continue after the latents' own draw
            injections = noise.draw(latents.shape[1:], count)[1] if count else iter(())
        else:
            injections = noise.injections(latents.shape[1:], count)
        if len(noise) != latents.shape[0]:
            raise ValueError(f"seeds: got {len(noise)} seeds for a batch of {latents.shape[0]} latents")
        if labels is not None and labels.shape[:1] != latents.shape[:1]:
            raise ValueError(f"labels: shape {tuple(labels.shape)} does not match batch size {latents.shape[0]}")
        x = latents.to(torch.float64) * plan.sigma_start
        dtype = resolve_model_dtype(denoiser, model_dtype)
        samples = run_plan(plan, denoiser, x, injections, labels=labels, model_dtype=dtype)
        return SampleResult(samples, plan.nfe, plan)

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., **options}``: what ``build_sampler(**config)`` turns back into this sampler."""
        return {"name": self.name, **{key: _plain(getattr(self, key)) for key in self.options()}}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_config() == self.to_config()

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={getattr(self, key)!r}" for key in self.options())
        return f"{type(self).__name__}({options})"


def _plain(value: Any) -> Any:
    """Tuples and dataclasses as (nested) lists, for YAML."""
    if dataclasses.is_dataclass(value):
        return [_plain(v) for v in dataclasses.astuple(value)]
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
