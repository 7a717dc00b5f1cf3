"""How cost grows: sampling time and memory against batch size and NFE, evaluation time and memory against
num_samples, with fitted slopes. Toy MLP of configs/toy.yaml (freshly initialised: the cost does not depend
on the weights), CPU, one thread by default.

Sweeps (each point is one sampler call, or one evaluation, from the first seed on):
  batch: Heun at 15 NFE, batch 500 ... 8,000;
  NFE:   Heun and EDM's SDE (S_churn 10), batch 2,000, N = 4 ... 32 steps (NFE 2N - 1);
  evaluation: ``generate_batches`` + the metric suite of SamplerEvaluation (update per batch, then compute)
         for num_samples 1,000 ... 16,000 in batches of 1,000, Heun 35 NFE; once with the streaming metrics
         (frechet, nll, mode_coverage, in_mode_fraction: fixed-size sums) and once with the toy default,
         which adds sliced_w2 (it keeps every sample's projections: a ``cat`` state).
Time: every point of a sweep timed in turn, ``--repeats`` rounds (A, B, C, A, B, C, ...), medians.
Memory: each point again in a fresh subprocess: peak resident memory (VmHWM) during the call minus the
resident memory just before it (after imports, model and metrics are built); torch's CPU tensors come from
malloc, which tracemalloc does not see, and ru_maxrss of one long process only ever grows.
Slopes: least-squares lines; time per NFE and per sample, memory per sample.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from _common import REPO, machine_info, markdown_table, median, set_threads, write_result
from _flops import evaluation_flops, flops_columns, peak_flops, peak_lines

from restart_lightning.data.toy_datamodule import ToyDataModule
from restart_lightning.evaluation.generation import generate_batches
from restart_lightning.evaluation.metric_suite import build_metric_suite
from restart_lightning.networks import MLP
from restart_lightning.preconditioning import Denoiser, build_preconditioning
from restart_lightning.sampling import build_sampler

HEUN = {"name": "heun"}
SDE = {"name": "edm_sde", "S_churn": 10.0, "S_min": 0.01, "S_max": 1.0, "S_noise": 1.0}
STREAMING = ["frechet", "nll", "mode_coverage", "in_mode_fraction"]
DEFAULT = ["sliced_w2", *STREAMING]
EVAL_BATCH, EVAL_STEPS = 1000, 18


def denoiser() -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(MLP(2, 64, 4), build_preconditioning("edm", 1.4)).eval().requires_grad_(False)


def sampling_call(spec: dict, steps: int, batch: int):
    """A function that samples ``batch`` points with ``spec`` at ``steps`` steps, and its NFE."""
    net, sampler = denoiser(), build_sampler(**spec, num_steps=steps)
    return (lambda: sampler(net, seeds=range(batch), shape=(2,)).samples), sampler.plan(net).nfe


def evaluation_call(num_samples: int, metrics: list[str]):
    """A function that runs one evaluation's generation and metrics (as SamplerEvaluation.evaluate)."""
    net, sampler = denoiser(), build_sampler(**HEUN, num_steps=EVAL_STEPS)
    data = ToyDataModule(name="grid", num_val_samples=4096)
    suite = build_metric_suite(data, num_samples=num_samples, names=metrics, num_reference_samples=4096)

    def run():
        suite.reset()
        for batch in generate_batches(sampler, net, range(num_samples), shape=(2,), batch_size=EVAL_BATCH,
                                      device="cpu"):
            suite.update(batch.samples)
        return suite.compute()

    return run, sampler.plan(net).nfe


def build(point: dict):
    if point["kind"] == "sampling":
        return sampling_call({"heun": HEUN, "edm_sde": SDE}[point["sampler"]], point["steps"], point["batch"])
    return evaluation_call(point["num_samples"], DEFAULT if point["metrics"] == "default" else STREAMING)


# ---------------------------------------------------------------------------------- memory, in a child process
def _status_kib(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(point: dict) -> None:
    """Runs one point and prints {"peak_mib": ...}: VmHWM during the call minus VmRSS before it."""
    fn, _ = build(point)
    before = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident size (Linux >= 4.0)
    except OSError:
        pass
    fn()
    print(json.dumps({"peak_mib": (_status_kib("VmHWM") - before) / 1024}))


def peak_memory_mib(point: dict, threads: int) -> float:
    command = [sys.executable, __file__, "--threads", str(threads), "--child", json.dumps(point)]
    out = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mib"]


# ---------------------------------------------------------------------------------- fits
def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """(slope, intercept, R^2) of the least-squares line."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    return slope, intercept, 1 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def sweep(points: list[dict], repeats: int, threads: int) -> list[dict]:
    """Time every point interleaved, then measure its memory in a subprocess."""
    built = [build(p) for p in points]
    for fn, _ in built:  # one untimed call each: allocator and lazy initialisation
        fn()
    seconds: list[list[float]] = [[] for _ in points]
    for _ in range(repeats):
        for i, (fn, _) in enumerate(built):
            started = time.perf_counter()
            fn()
            seconds[i].append(time.perf_counter() - started)
    out = []
    for point, (_, nfe), ts in zip(points, built, seconds):
        out.append({**point, "nfe": nfe, "seconds": median(ts), "peak_mib": peak_memory_mib(point, threads)})
        print(out[-1], flush=True)
    return out


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batches", type=int, nargs="+", default=[500, 1000, 2000, 4000, 8000])
    p.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32], help="sampler steps N of the NFE sweep")
    p.add_argument("--nfe-batch", type=int, default=2000)
    p.add_argument("--samples", type=int, nargs="+", default=[1000, 2000, 4000, 8000, 16000])
    p.add_argument("--smoke", action="store_true", help="tiny sweeps, nothing written (tests)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    set_threads(args.threads)
    if args.child:
        child(json.loads(args.child))
        return ""
    if args.smoke:
        args.batches, args.steps, args.nfe_batch, args.samples, args.repeats = [20, 40], [2, 4], 20, [1000, 2000], 1
    info, started = machine_info(), time.perf_counter()
    peak, _ = peak_flops("cpu")
    eval_flops = evaluation_flops(denoiser(), (2,), 1)  # per sample and evaluation

    batch = sweep([{"kind": "sampling", "sampler": "heun", "steps": 8, "batch": b} for b in args.batches],
                  args.repeats, args.threads)
    nfe = sweep([{"kind": "sampling", "sampler": s, "steps": n, "batch": args.nfe_batch}
                 for s in ("heun", "edm_sde") for n in args.steps], args.repeats, args.threads)
    evaluation = sweep([{"kind": "evaluation", "metrics": m, "num_samples": n}
                        for m in ("streaming", "default") for n in args.samples], args.repeats, args.threads)

    def rows(results, x_key):
        return [[r.get("sampler", r.get("metrics")), r[x_key], r["nfe"], f"{r['seconds']:.3f}",
                 f"{1e6 * r['seconds'] / (r['nfe'] * r.get('batch', r.get('num_samples'))):.2f}",
                 *flops_columns(eval_flops * r["nfe"] * r.get("batch", r.get("num_samples")), r["seconds"], peak),
                 f"{r['peak_mib']:.1f}"] for r in results]

    headers = ["sampler / metrics", "x", "NFE", "median s", "us per sample-NFE", "achieved", "of CPU matmul peak",
               "peak memory MiB (over the pre-call resident size)"]
    fits = []
    xs = [r["batch"] for r in batch]
    for what, key, scale, unit in (("time", "seconds", 1e3, "ms"), ("memory", "peak_mib", 1.0, "MiB")):
        slope, icpt, r2 = fit_line(xs, [r[key] for r in batch])
        fits.append(["sampling, Heun 15 NFE", f"{what} vs batch", f"{1000 * slope * scale:.3g} {unit} per 1000 samples",
                     f"{icpt * scale:.3g} {unit}", f"{r2:.4f}"])
    for sampler in ("heun", "edm_sde"):
        part = [r for r in nfe if r["sampler"] == sampler]
        for what, key, scale, unit in (("time", "seconds", 1e3, "ms"), ("memory", "peak_mib", 1.0, "MiB")):
            slope, icpt, r2 = fit_line([r["nfe"] for r in part], [r[key] for r in part])
            fits.append([f"sampling, {sampler}, batch {args.nfe_batch}", f"{what} vs NFE",
                         f"{slope * scale:.3g} {unit} per NFE", f"{icpt * scale:.3g} {unit}", f"{r2:.4f}"])
    for metrics in ("streaming", "default"):
        part = [r for r in evaluation if r["metrics"] == metrics]
        for what, key, scale, unit in (("time", "seconds", 1e3, "ms"), ("memory", "peak_mib", 1.0, "MiB")):
            slope, icpt, r2 = fit_line([r["num_samples"] for r in part], [r[key] for r in part])
            fits.append([f"evaluation, {metrics} metrics", f"{what} vs num_samples",
                         f"{1000 * slope * scale:.3g} {unit} per 1000 samples", f"{icpt * scale:.3g} {unit}",
                         f"{r2:.4f}"])
    body = (
        f"Medians of {args.repeats} interleaved rounds; memory of one call in a fresh process. "
        f"FLOPs: {eval_flops} per sample and network evaluation (_flops.evaluation_flops), times NFE and samples.\n\n"
        + peak_lines("cpu") + "\n\n"
        + "### Fitted lines (y = slope x + intercept)\n\n"
        + markdown_table(["sweep", "line", "slope", "intercept", "R^2"], fits) + "\n\n"
        + "### Sampling against batch size (Heun, N = 8)\n\n" + markdown_table(headers, rows(batch, "batch")) + "\n\n"
        + f"### Sampling against NFE (batch {args.nfe_batch})\n\n"
        + markdown_table(headers, rows(nfe, "steps")).replace("| x |", "| N |", 1) + "\n\n"
        + f"### Evaluation against num_samples (Heun {2 * EVAL_STEPS - 1} NFE, batches of {EVAL_BATCH})\n\n"
        + markdown_table(headers, rows(evaluation, "num_samples")).replace("| x |", "| num_samples |", 1)
    )
    if args.smoke:
        print(body)
        return body
    write_result("scaling", "How cost grows: sampling and evaluation against batch, NFE and num_samples (CPU)", body,
                 info, time.perf_counter() - started)
    return body


if __name__ == "__main__":
    main()
