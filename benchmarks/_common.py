"""Shared helpers of the benchmark scripts: paths, machine facts, interleaved timing, tables, models.

Not a test and not part of the package. Every script imports this module first: it puts the
repository root on ``sys.path`` so the scripts run from a plain checkout
(``python benchmarks/<name>.py``) without ``pip install -e .``.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import yaml  # noqa: E402
from torch import nn  # noqa: E402

CACHE = REPO / "benchmarks" / ".cache"  # ignored by benchmarks/.gitignore: checkpoints, TensorBoard runs
RESULTS = REPO / "benchmarks" / "results"
TOY_CONFIG = REPO / "configs" / "toy.yaml"
TOY_CHECKPOINT = CACHE / "toy_mlp.ckpt"


# ---------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, str]:
    """What the numbers depend on: CPU model, core count, load, torch threads and versions."""
    import lightning

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "load average at start (1, 5, 15 min)": load,
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def set_threads(threads: int) -> None:
    """Intra-op threads of torch (1 by default: on a shared 2-core machine, 2 threads oversubscribe)."""
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------- statistics
def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    return float(statistics.fmean(xs)), float(statistics.stdev(xs)) if len(xs) > 1 else 0.0


def iqr(xs: Sequence[float]) -> tuple[float, float]:
    """(25th, 75th) percentile."""
    if len(xs) < 4:
        return min(xs), max(xs)
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def time_interleaved(
    variants: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall times of each variant, run A, B, C, A, B, C, ... so that load changes hit all alike.

    ``warmup`` untimed rounds first (allocator, lazy init). Returns name -> seconds per repeat.
    """
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times


def paired_ratios(times: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Median over repeats of t_variant / t_baseline, pairing the runs of the same round."""
    base = times[baseline]
    return {name: median([t / b for t, b in zip(ts, base)]) for name, ts in times.items()}


# ---------------------------------------------------------------------------------- tables
def fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, float):
        if x != x:
            return "n/a"
        if x != 0 and (abs(x) >= 1e4 or abs(x) < 10 ** -(digits)):
            return f"{x:.{digits}g}"
        return f"{x:.{digits}f}"
    return str(x)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_block(info: dict[str, str]) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in info.items())


def write_result(name: str, title: str, body: str, info: dict[str, str], seconds: float) -> Path:
    """Print the markdown report and write it to benchmarks/results/<name>.md."""
    command = "python " + " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    text = (
        f"# {title}\n\n"
        f"Written by `{command}` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} "
        f"in {seconds / 60:.1f} min.\n\n"
        f"Machine:\n{machine_block(info)}\n\n{body.strip()}\n"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    print("\n" + text, flush=True)
    print(f"written to {path.relative_to(REPO)}", flush=True)
    return path


# ---------------------------------------------------------------------------------- models
def instantiate(spec: dict[str, Any]) -> Any:
    """An object from a ``{class_path, init_args}`` mapping (LightningCLI's format)."""
    module_name, _, class_name = spec["class_path"].rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**spec.get("init_args", {}))


def load_ema_denoiser(checkpoint: str | Path) -> nn.Module:
    """The EMA denoiser D of a ``main.py fit`` checkpoint, on the CPU, in eval mode.

    Rebuilt from the checkpoint's hyperparameters (network class_path/init_args,
    preconditioning, sigma_data) and the ``ema.module.*`` weights, so it does not depend on
    the rest of DiffusionModule.
    """
    from restart_lightning.preconditioning import Denoiser, build_preconditioning
    from restart_lightning.reliability.safe_load import load_checkpoint_file

    ckpt = load_checkpoint_file(checkpoint, field="checkpoint")
    hp = ckpt["hyper_parameters"]
    denoiser = Denoiser(instantiate(hp["net"]), build_preconditioning(hp["preconditioning"], hp["sigma_data"]))
    prefix = "ema.module."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    denoiser.load_state_dict(state)
    return denoiser.eval().requires_grad_(False)


def ensure_toy_checkpoint(ckpt: str | None) -> Path:
    """A trained toy MLP: ``ckpt`` if given, else benchmarks/.cache/toy_mlp.ckpt, else train it now.

    Training runs ``python main.py fit --config configs/toy.yaml`` (about 3 minutes on two
    CPU cores) with its logs under benchmarks/.cache/train and copies ``last.ckpt`` to the cache.
    """
    if ckpt is not None:
        path = Path(ckpt)
        if not path.is_file():
            raise FileNotFoundError(f"--ckpt {ckpt}: no such file")
        return path
    if TOY_CHECKPOINT.is_file():
        print(f"Using the cached toy MLP {TOY_CHECKPOINT.relative_to(REPO)} (pass --ckpt to use another).")
        return TOY_CHECKPOINT
    print(
        "No --ckpt given and no cached toy MLP: training it now with `python main.py fit --config configs/toy.yaml` "
        "(about 3 minutes on two CPU cores; logs under benchmarks/.cache/train) ...",
        flush=True,
    )
    save_dir = CACHE / "train"
    command = [
        sys.executable, "main.py", "fit", "--config", str(TOY_CONFIG),
        "--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.enable_progress_bar", "false",
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    runs = sorted((save_dir / "toy").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    last = runs[-1] / "checkpoints" / "last.ckpt"
    TOY_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    TOY_CHECKPOINT.write_bytes(last.read_bytes())
    print(f"Trained in {(time.perf_counter() - started) / 60:.1f} min; cached as {TOY_CHECKPOINT.relative_to(REPO)}.")
    return TOY_CHECKPOINT


def toy_config() -> dict[str, Any]:
    return yaml.safe_load(TOY_CONFIG.read_text())
