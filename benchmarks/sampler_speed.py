"""Wall time of our Heun, EDM SDE and Restart samplers against minimal hand-written loops, equal NFE.

Models on the CPU: the toy MLP of configs/toy.yaml (batch 10,000; the cached trained checkpoint if
there is one, else freshly initialised weights: the speed does not depend on them) and a small
U-Net (restart_lightning.networks.unet.UNet, 8x8x1 like the digits, batch 64). Every sampler at
35 NFE: Heun N=18, EDM SDE N=18 (S_churn 10 on [0.01, 1]), Restart N=10 [[3, 4, 0.06, 0.5]]
(the three samplers of configs/toy.yaml).

Variants, timed interleaved (A, B, C, D, A, B, ...) and reported as medians and paired ratios:
  library             sampler(denoiser, seeds=..., shape=...)  (NoiseSource: per-sample generators, the
                      plan's noise prefetched in few calls per generator, generators released before the network)
  minimal/per-sample  _minimal.py loop, same arithmetic and the same per-sample noise: equal samples
  minimal/batched     the same loop with one generator for the batch (as k-diffusion's loops)
  library/per-draw    the library with the noise of before the prefetching NoiseSource (one call per sample and
                      draw, generators alive through the run; _minimal.PerDrawNoise): the before/after row
  k-diffusion         k_diffusion.sampling.sample_heun where k-diffusion is installed (Heun only)
Each variant also reports its minor page faults (getrusage): on the toy MLP they show that glibc's
malloc sometimes serves the ~2.5 MB activations with fresh mmap'd pages at every call and sometimes
reuses heap memory, depending on the heap's history (the per-draw noise's 10,000 live generators make
it likely) -- a +-30% effect on the network time that is independent of the sampler code.
A cProfile of one library run per model shows where the time goes.
Achieved FLOP/s: the network's matmul/conv FLOPs per sample and evaluation (_flops.evaluation_flops) times
batch and NFE over the median time, against the CPU's measured float32 matmul peak (_flops.py).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import time

import torch
from _common import (
    TOY_CHECKPOINT,
    iqr,
    load_ema_denoiser,
    machine_info,
    markdown_table,
    median,
    paired_ratios,
    set_threads,
    time_interleaved,
    write_result,
)
from _flops import evaluation_flops, flops_columns, peak_flops, peak_lines
from _minimal import BatchNoise, PerDrawNoise, PerSampleNoise, minimal_loop

from restart_lightning.networks import MLP
from restart_lightning.networks.unet import UNet
from restart_lightning.preconditioning import Denoiser, build_preconditioning
from restart_lightning.sampling import NoiseSource, build_sampler

SAMPLERS = {
    "heun": {"name": "heun", "num_steps": 18},
    "edm_sde": {"name": "edm_sde", "num_steps": 18, "S_churn": 10.0, "S_min": 0.01, "S_max": 1.0, "S_noise": 1.0},
    "restart": {"name": "restart", "num_steps": 10, "restart_intervals": [[3, 4, 0.06, 0.5]]},
}
UNET = dict(resolution=8, in_channels=1, base_channels=16, channel_mult=(1, 2), num_blocks=1,
            attn_resolutions=(4,), dropout=0.0)


def k_diffusion_heun():
    """k-diffusion's sample_heun, or None and why not.

    Only ``k_diffusion.sampling`` is loaded: the package's ``__init__`` imports its training stack
    (clip, kornia, wandb, ...), which sampling does not need. Install the sampling module's own
    needs with ``pip install --no-deps k-diffusion torchsde torchdiffeq trampoline safetensors``.
    """
    import importlib.util
    import sys
    import types

    try:
        spec = importlib.util.find_spec("k_diffusion")
        if spec is None:
            raise ImportError("No module named 'k_diffusion'")
        if "k_diffusion" not in sys.modules:
            package = types.ModuleType("k_diffusion")
            package.__path__ = list(spec.submodule_search_locations)
            sys.modules["k_diffusion"] = package
        from k_diffusion.sampling import sample_heun
    except Exception as error:  # noqa: BLE001 - any import failure means "not available"
        return None, (f"k-diffusion is not installed ({type(error).__name__}: {error}); "
                      "`pip install --no-deps k-diffusion torchsde torchdiffeq trampoline safetensors` adds it")
    return sample_heun, ""


def models(batch_toy: int, batch_unet: int):
    if TOY_CHECKPOINT.is_file():
        mlp, mlp_note = load_ema_denoiser(TOY_CHECKPOINT), "trained (cached checkpoint)"
    else:
        mlp = Denoiser(MLP(2, 64, 4), build_preconditioning("edm", 1.4)).eval().requires_grad_(False)
        mlp_note = "freshly initialised (no cached checkpoint; speed does not depend on the weights)"
    unet = Denoiser(UNet(**UNET), build_preconditioning("edm", 0.5)).eval().requires_grad_(False)
    n_unet = sum(p.numel() for p in unet.parameters())
    return [
        ("toy MLP", f"MLP width 64, depth 4, {mlp_note}", mlp, (2,), batch_toy),
        ("U-Net", f"UNet {UNET} ({n_unet / 1e6:.2f}M parameters), untrained", unet, (1, 8, 8), batch_unet),
    ]


def variants(label: str, config: dict, denoiser, shape, batch: int, kdiff):
    sampler = build_sampler(**config)
    plan = sampler.plan(denoiser)
    sigmas = sampler.sigmas(denoiser).tolist()
    seeds = list(range(batch))

    def loop(noise):
        return minimal_loop(config, denoiser, noise, shape, sigmas)

    count = len(plan.noise_injections)
    out = {
        "library": lambda: sampler(denoiser, seeds=seeds, shape=shape).samples,
        "minimal/per-sample": lambda: loop(PerSampleNoise(seeds, shape, count)),
        "minimal/batched": lambda: loop(BatchNoise(0, batch)),
        "library/per-draw": lambda: sampler(denoiser, shape=shape, noise=PerDrawNoise(seeds)).samples,
    }
    if kdiff is not None and label == "heun":
        def k_heun():
            x = BatchNoise(0, batch)(shape) * sigmas[0]
            model = lambda x, s: denoiser(x.to(torch.float32), s.to(torch.float32)).to(torch.float64)  # noqa: E731
            return kdiff(model, x, torch.tensor(sigmas, dtype=torch.float64), disable=True)
        out["k-diffusion"] = k_heun
    return sampler, out


def with_faults(fn, faults: list):
    """fn, recording the minor page faults of each call into ``faults``."""
    def wrapper():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        out = fn()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return out
    return wrapper


def noise_only(sampler, denoiser, shape, batch: int) -> None:
    """What the library spends on randomness alone: NoiseSource for the batch, latents, every injection."""
    _, injections = NoiseSource(range(batch)).draw(shape, len(sampler.plan(denoiser).noise_injections))
    for _ in injections:
        pass


def profile(fn, top: int = 12) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in stream.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(lines[start - 1: start + top + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=4, help="timed rounds per variant (after one warm-up)")
    parser.add_argument("--batch-toy", type=int, default=10_000)
    parser.add_argument("--batch-unet", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    info, started = machine_info(), time.perf_counter()
    kdiff, kdiff_note = k_diffusion_heun()
    peak, _ = peak_flops("cpu")
    rows, profiles, checks, notes, noise_rows, kd_rows = [], [], [], [], [], []
    for model_name, description, denoiser, shape, batch in models(args.batch_toy, args.batch_unet):
        flops = evaluation_flops(denoiser, shape, 1)
        notes.append(f"- {model_name}: {description}; batch {batch}; {flops / 1e3:.1f} kFLOP per sample and evaluation")
        for label, config in SAMPLERS.items():
            sampler, fns = variants(label, config, denoiser, shape, batch, kdiff)
            same = torch.equal(fns["library"](), fns["minimal/per-sample"]())
            checks.append(f"{model_name} {label}: library samples == minimal/per-sample samples: {same}")
            faults = {k: [] for k in fns}
            times = time_interleaved({k: with_faults(fn, faults[k]) for k, fn in fns.items()}, args.repeats, warmup=1)
            ratios = paired_ratios(times, "minimal/per-sample")
            ratios_batched = paired_ratios(times, "minimal/batched")
            noise_fn = lambda a=(sampler, denoiser, shape, batch): noise_only(*a)  # noqa: E731
            noise_cost = median(time_interleaved({"noise": noise_fn}, 3, warmup=0)["noise"])
            noise_rows.append([model_name, label, len(sampler.plan(denoiser).noise_injections), f"{noise_cost:.3f}",
                               f"{noise_cost / median(times['library']):.1%}"])
            if "k-diffusion" in times:
                per_round = [t / k for t, k in zip(times["library"], times["k-diffusion"])]
                kd_rows.append([model_name, label, sampler.plan(denoiser).nfe, f"{median(per_round):.3f}",
                                "{:.2f}-{:.2f}".format(*iqr(per_round))])
            for variant, ts in times.items():
                per_round = [t / b for t, b in zip(ts, times["minimal/per-sample"])]
                low, high = iqr(per_round)
                nfe = sampler.plan(denoiser).nfe
                rows.append([model_name, label, nfe, variant, median(ts),
                             f"{ratios[variant]:.3f}", f"{low:.2f}-{high:.2f}", f"{ratios_batched[variant]:.3f}",
                             f"{median(faults[variant][1:]):.0f}",
                             *flops_columns(flops * batch * nfe, median(ts), peak)])
            print(f"{model_name} {label}: " + ", ".join(f"{v} {median(t):.2f}s" for v, t in times.items()), flush=True)
        profiles.append(f"#### {model_name}, restart, library (cProfile, sorted by own time)\n\n```\n"
                        + profile(fns["library"]) + "\n```")
    table = markdown_table(
        ["model", "sampler", "NFE", "variant", "median s", "ratio vs minimal/per-sample",
         "per-round ratio vs minimal/per-sample, 25th-75th percentile", "ratio vs minimal/batched",
         "minor page faults (median)", "achieved", "of CPU matmul peak"],
        rows)
    body = (
        f"Interleaved timing, {args.repeats} rounds after one warm-up; ratios are medians of per-round ratios. "
        "The machine's 2 cores are shared with other jobs (see the load average): absolute seconds are noisy, "
        "the paired ratios much less so.\n\n" + "\n".join(notes) + "\n" + peak_lines("cpu") + "\n\n" + table + "\n\n"
        + "Equality checks (same arithmetic and noise => identical samples):\n\n"
        + "\n".join(f"- {c}" for c in checks) + "\n\n"
        + f"k-diffusion: {'sample_heun timed (Heun rows)' if kdiff is not None else kdiff_note}.\n\n"
        + ("Library / k-diffusion `sample_heun`, paired per round:\n\n"
           + markdown_table(["model", "sampler", "NFE", "median ratio", "25th-75th percentile"], kd_rows) + "\n\n"
           if kd_rows else "")
        + "### Cost of per-sample noise\n\nNoiseSource for the batch (one torch.Generator per sample), the latents "
        "and every injection of the plan (prefetched), timed alone (median of 3), as a share of the library's "
        "median time:\n\n"
        + markdown_table(["model", "sampler", "noise injections", "noise seconds", "share of library time"],
                         noise_rows) + "\n\n"
        + "### Where the time goes\n\n" + "\n\n".join(profiles)
    )
    write_result("sampler_speed", "Sampler speed against minimal loops (CPU)", body, info,
                 time.perf_counter() - started)


if __name__ == "__main__":
    main()
