"""FLOPs of one network evaluation and of one training step, and the peak FLOP/s to hold them against.

Counts come from ``torch.utils.flop_counter.FlopCounterMode``: matrix products, convolutions and
attention (forward and, for a training step, backward), 2 FLOPs per multiply-add. Element-wise work
(activations, normalisation, the preconditioning's scalings, Adam, the EMA) is not counted: the usual
convention of model-FLOP utilisation (MFU), so a utilisation is "useful matmul/conv work per second
over the hardware's dense peak". For the toy MLP that leaves out a visible share of the real work.

Peaks: vendor datasheet numbers for common GPUs (dense, i.e. without 2:4 sparsity), and for the CPU
a measured practical peak, a large float32 matmul on one thread and on all threads.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense peak TFLOP/s by precision (float32 on CUDA cores, TF32 / bf16 on tensor cores), from the vendors'
# datasheets: NVIDIA H100 Tensor Core GPU datasheet (SXM5 / PCIe / NVL columns; the "with sparsity" figures
# halved), H200 datasheet (SXM), A100 datasheet (SXM4 and PCIe alike), L4 and A10 datasheets, V100 datasheet
# (SXM2; no TF32 or bf16 tensor cores: fp32 only), L40S datasheet, and the Ada Lovelace architecture
# whitepaper, appendix (GeForce RTX 4090, FP32-accumulate tensor rates). None: the card has no such mode.
# Match order matters: the first key found in torch.cuda.get_device_name() wins.
GPU_PEAK_TFLOPS: dict[str, dict[str, float | None]] = {
    "H100 PCIe": {"fp32": 51.0, "tf32": 378.0, "bf16": 756.0},
    "H100 NVL": {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5},
    "H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},  # SXM5 ("NVIDIA H100 80GB HBM3")
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},  # SXM; same compute as H100 SXM, more memory
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05},
    "L4": {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0},
    "A10": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0},  # after A100 and L40S would not match "A10" first
    "V100": {"fp32": 15.7, "tf32": None, "bf16": None},
    "RTX 4090": {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2},
}
PRECISIONS = ("fp32", "tf32", "bf16")


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (matmul, conv, attention) of everything ``fn`` runs, backward passes included."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def evaluation_flops(denoiser: torch.nn.Module, shape: tuple[int, ...], batch: int = 1, device="cpu",
                     labels: torch.Tensor | None = None) -> int:
    """FLOPs of one denoiser evaluation D(x, sigma) on ``batch`` samples of ``shape`` (no gradients)."""
    x = torch.zeros((batch, *shape), device=device)
    sigma = torch.ones(batch, device=device)
    with torch.no_grad():
        return count_flops(lambda: denoiser(x, sigma, labels))


def training_step_flops(denoiser: torch.nn.Module, loss_fn, y: torch.Tensor, labels: torch.Tensor | None = None) -> int:
    """FLOPs of one training step's forward and backward (the EDM loss on batch ``y``; the gradients are
    left in ``.grad``, the optimizer and EMA are element-wise and not counted)."""
    generator = torch.Generator(y.device).manual_seed(0)

    def step():
        per_sample, _ = loss_fn(denoiser, y, labels, generator=generator)
        per_sample.mean().backward()

    flops = count_flops(step)
    denoiser.zero_grad(set_to_none=True)
    return flops


def _best_matmul_flops(n: int, device, dtype, repeats: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up (allocation, kernel choice)
        if a.is_cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        if a.is_cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


@functools.lru_cache(maxsize=None)
def cpu_peak_flops(threads: int, n: int = 1024, repeats: int = 30) -> float:
    """Practical float32 peak of this CPU at ``threads`` torch threads: the best of ``repeats`` n x n matmuls
    (~1 s on one Zen 3 core), so that one of them likely finds the core idle on a shared machine.

    Still a lower bound of the true peak when the machine is loaded (and utilisations an upper bound)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _best_matmul_flops(n, "cpu", torch.float32, repeats)
    finally:
        torch.set_num_threads(previous)


def gpu_peak_flops(name: str, precision: str) -> float | None:
    """Datasheet dense peak FLOP/s of the GPU called ``name`` in ``precision`` (fp32, tf32, bf16), or None."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: invalid value {precision!r}; allowed values: {', '.join(PRECISIONS)}")
    for key, peaks in GPU_PEAK_TFLOPS.items():
        if key in name:
            value = peaks[precision]
            return None if value is None else value * 1e12
    return None


def peak_flops(device: torch.device | str = "cpu", precision: str = "fp32") -> tuple[float | None, str]:
    """(peak FLOP/s, where it comes from) for ``device``: the datasheet on a known GPU, a measured matmul on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = gpu_peak_flops(name, precision)
        return peak, (f"{name} datasheet, dense {precision}" if peak else f"{name}: no datasheet peak in _flops.py")
    threads = torch.get_num_threads()
    if precision != "fp32":
        return None, f"CPU: no {precision} peak measured"
    return cpu_peak_flops(threads), f"CPU float32 matmul 1024^3, {threads} thread(s), best of 30"


def achieved(flops: float, seconds: float) -> float:
    return flops / seconds if seconds > 0 else float("nan")


def format_flops(flops_per_s: float | None) -> str:
    """'12.3 GFLOP/s' style."""
    if flops_per_s is None or flops_per_s != flops_per_s:
        return "n/a"
    for unit, scale in (("TFLOP/s", 1e12), ("GFLOP/s", 1e9), ("MFLOP/s", 1e6)):
        if flops_per_s >= scale:
            return f"{flops_per_s / scale:.3g} {unit}"
    return f"{flops_per_s:.3g} FLOP/s"


def format_utilisation(flops_per_s: float | None, peak: float | None) -> str:
    if flops_per_s is None or peak is None or flops_per_s != flops_per_s:
        return "n/a"
    return f"{100 * flops_per_s / peak:.1f}%"


def flops_columns(flops: float, seconds: float, peak: float | None) -> list[str]:
    """[achieved FLOP/s, utilisation of the peak] for ``flops`` done in ``seconds``."""
    rate = achieved(flops, seconds)
    return [format_flops(rate), format_utilisation(rate, peak)]


def peak_lines(device: torch.device | str = "cpu", precisions=("fp32",)) -> str:
    """A markdown list of the peaks used, for the results files."""
    lines = []
    for precision in precisions:
        peak, source = peak_flops(device, precision)
        lines.append(f"- peak {precision}: {format_flops(peak)} ({source}; the utilisations use this one)")
    if torch.device(device).type == "cpu":
        everything = os.cpu_count() or 1
        lines.append(f"- for comparison, the same matmul on 1 thread: {format_flops(cpu_peak_flops(1))}; on all "
                     f"{everything} threads: {format_flops(cpu_peak_flops(everything))}")
    return "\n".join(lines)
