"""The CIFAR-10 config on one GPU in at most --budget seconds (8 minutes): start-up, training, sampling, FID-50k.

Model: configs/cifar10_edm.yaml's DDPM++ (55.7M parameters) with EDM preconditioning, loss and EMA.
Data: CIFAR10DataModule reading random images that this script writes in the real CIFAR-10 python
format (the GPU machine is offline; the speed does not depend on the pixels), with the config's loader.

Parts, in this order (each checks the time left first and is skipped, with a message, if it would not fit):
 1. start-up: imports; CUDA initialisation; the first forward + backward of the network (float32, bf16,
    bf16 channels-last; cuDNN's default heuristics: the earlier ~390 s stall, if it is cuDNN's run-time
    compilation of execution plans, shows here); the same with cuDNN's autotuner
    (torch.backends.cudnn.benchmark); torch.compile's compilation of the training step.
 2. sampling: Heun 35 NFE and the Restart preset (configs/samplers/restart_cifar10_edm_nfe43.yaml) on the
    untrained EMA network, float32 (TF32 off), TF32 (matmul and cuDNN) and bf16 (model_dtype), interleaved,
    against the minimal loops of _minimal.py (same per-sample noise: equal samples; one generator for the
    batch); ms per NFE, FLOP/s and utilisation of the datasheet peak; each precision's max / mean |sample -
    float32 sample| on the same seeds.
 3. FID-50k wall time of the Restart preset (43 NFE) at the config's evaluation batch: a measured chunk of
    --fid-chunk batches (sampling, then Inception-v3 features: torchvision's architecture with random
    weights, the same compute as the real network, whose weights this offline machine lacks),
    EXTRAPOLATED to 50,000 images; and the one-time reference statistics of 50,000 real images.
 4. training: images/s and FLOP utilisation of float32 (TF32 off), bf16, bf16 + channels-last (the
    config) and bf16 + channels-last + torch.compile, each as a real ``Trainer.fit`` (as ``main.py fit``)
    and as a bare PyTorch loop on the same card (same step: EDM loss, Adam + warm-up, EMA; no
    non-finite check); compile last.
FLOPs: matmul and convolution FLOPs of one step or evaluation (benchmarks/_flops.py, FlopCounterMode);
peaks: the datasheet's dense fp32 / TF32 / bf16 numbers of _flops.GPU_PEAK_TFLOPS.
``--smoke``: a tiny network on the CPU, every part and code path in well under a minute (tests).
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import pickle  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from _common import REPO, instantiate, machine_info, markdown_table, median, paired_ratios, write_result  # noqa: E402
from _flops import evaluation_flops, flops_columns, peak_flops, training_step_flops  # noqa: E402
from _minimal import BatchNoise, PerSampleNoise, minimal_loop  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402

from restart_lightning.data import CIFAR10DataModule  # noqa: E402
from restart_lightning.ema import EMA  # noqa: E402
from restart_lightning.evaluation.generation import generate_batches  # noqa: E402
from restart_lightning.module import DiffusionModule  # noqa: E402
from restart_lightning.sampling import build_sampler  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _STARTED
CONFIG = REPO / "configs" / "cifar10_edm.yaml"
RESTART_PRESET = REPO / "configs" / "samplers" / "restart_cifar10_edm_nfe43.yaml"
SMOKE_NET = {"base_channels": 16, "channel_mult": [1, 2], "num_blocks": 1, "attn_resolutions": [16]}
SMOKE = False  # --smoke: a tiny network on the CPU, to check this script before spending GPU time
DEVICE = torch.device("cuda")
FID_IMAGES = 50_000


# ---------------------------------------------------------------------------------- budget
class Budget:
    """Wall-clock budget of the whole script (from the first line, imports included)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.skipped = seconds, []

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - _STARTED)

    def allows(self, part: str, needs: float) -> bool:
        left = self.left()
        print(f"[budget] {part}: needs ~{needs:.0f} s, {left:.0f} s of {self.seconds:.0f} s left", flush=True)
        if left >= needs:
            return True
        self.skipped.append(f"{part} (needs ~{needs:.0f} s, {max(left, 0):.0f} s left)")
        print(f"[budget] skipped: {self.skipped[-1]}", flush=True)
        return False


# ---------------------------------------------------------------------------------- setup
def config() -> dict:
    cfg = yaml.safe_load(CONFIG.read_text())
    if SMOKE:
        cfg["model"]["net"]["init_args"].update(SMOKE_NET)
        cfg["data"]["init_args"]["num_workers"] = 0
    return cfg


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def peak_memory_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if DEVICE.type == "cuda" else float("nan")


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 for matmuls and cuDNN convolutions on or off (PyTorch's defaults: matmul off, cuDNN on)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def peak(precision: str) -> float | None:
    return peak_flops(DEVICE, precision)[0] if DEVICE.type == "cuda" else peak_flops("cpu")[0]


def write_random_cifar10(root: Path, n_per_batch: int) -> None:
    """Random uint8 images in the CIFAR-10 python format (5 training batches and a test batch)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": rng.integers(0, 10, n_per_batch).tolist()}, f)


def make_module(channels_last: bool = False, compile: bool = False) -> DiffusionModule:
    model = dict(config()["model"])
    net = instantiate(model.pop("net"))
    model.update(channels_last=channels_last, compile=compile)
    return DiffusionModule(net=net, **model)


def make_data(root: Path, batch: int) -> CIFAR10DataModule:
    # random images in the official format: not the official files, so no MD5 check (read safely all the same)
    args = dict(config()["data"]["init_args"], root=str(root), batch_size=batch, verify_checksums=False)
    return CIFAR10DataModule(**args)


def compile_in_place(module: torch.nn.Module) -> None:
    """nn.Module.compile; in smoke mode with the eager backend (no C++ toolchain needed, seconds not minutes)."""
    if SMOKE:
        module.compile(backend="eager")
    else:
        module.compile()


def timed(fn) -> float:
    sync()
    started = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------- 1. start-up
def startup_section(args, budget: Budget) -> str:
    rows = [["imports (torch, lightning, restart_lightning, this script's helpers)", f"{IMPORT_SECONDS:.2f}", ""]]
    if DEVICE.type == "cuda":
        cuda_init = timed(lambda: torch.ones(1, device=DEVICE) + 1)
        rows.append(["CUDA initialisation (first tiny op)", f"{cuda_init:.2f}", ""])
    batch = args.startup_batch
    y = torch.randn(batch, 3, 32, 32, device=DEVICE)

    def step(denoiser, loss_fn, dtype, channels_last):
        x = y.contiguous(memory_format=torch.channels_last) if channels_last else y
        generator = torch.Generator(DEVICE).manual_seed(0)
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            per_sample, _ = loss_fn(denoiser, x, None, generator=generator)
        per_sample.mean().backward()

    cases = [("float32 (TF32 off)", "fp32", False), ("bf16 autocast", "bf16", False),
             ("bf16 autocast + channels_last", "bf16", True)]
    for benchmark in (False, True):
        torch.backends.cudnn.benchmark = benchmark
        for label, dtype, channels_last in cases:
            if not budget.allows(f"start-up: first step, {label}, cudnn.benchmark={benchmark}", 30):
                continue
            module = make_module(channels_last=channels_last)
            denoiser = module.model.to(DEVICE).train()
            if channels_last:
                denoiser.to(memory_format=torch.channels_last)
            with tf32(False):
                first = timed(lambda d=denoiser, m=module, t=dtype, c=channels_last: step(d, m.loss_fn, t, c))
                second = timed(lambda d=denoiser, m=module, t=dtype, c=channels_last: step(d, m.loss_fn, t, c))
            what = "cuDNN autotuner (benchmark mode)" if benchmark else "cuDNN heuristics (default)"
            rows.append([f"first forward + backward, {label}, {what}", f"{first:.2f}", f"{second:.3f}"])
            print(rows[-1], flush=True)
    torch.backends.cudnn.benchmark = False
    if budget.allows("start-up: torch.compile of the training step", 90):
        module = make_module(channels_last=True)
        denoiser = module.model.to(DEVICE).to(memory_format=torch.channels_last).train()
        compile_in_place(denoiser.net)
        first = timed(lambda: step(denoiser, module.loss_fn, "bf16", True))
        second = timed(lambda: step(denoiser, module.loss_fn, "bf16", True))
        rows.append(["torch.compile (inductor) of forward + backward, bf16 + channels_last: first step",
                     f"{first:.2f}", f"{second:.3f}"])
        print(rows[-1], flush=True)
    return (f"### 1. Start-up, batch {batch}\n\nThe first call pays the one-time costs (CUDA context, cuDNN's choice "
            "or run-time compilation of its kernels, autotuning, compilation); the second is a steady step. Each row "
            "builds a fresh network; cuDNN's caches persist within the process, so later rows of the same shapes "
            "are cheaper.\n\n" + markdown_table(["what", "first call s", "second call s"], rows))


# ---------------------------------------------------------------------------------- 2. sampling
def sampling_specs(churn: bool = True) -> dict[str, dict]:
    """Heun 35 NFE and the Restart preset; ``churn=False``: the preset's pure algorithm (restart_gamma 0),
    whose arithmetic _minimal.restart_loop repeats (the churn only adds noise draws)."""
    restart = yaml.safe_load(RESTART_PRESET.read_text())
    if not churn:
        restart["restart_gamma"] = 0.0
    heun = {"name": "heun", "num_steps": 18}
    if SMOKE:
        heun["num_steps"], restart["num_steps"] = 3, 4
        restart["restart_intervals"] = [[2, 1, 0.14, 0.3]]
    return {"heun": heun, "restart preset" + ("" if churn else " (restart_gamma 0)"): restart}


def ema_denoiser():
    module = make_module()
    return module.ema.module.to(DEVICE).eval().requires_grad_(False)


def sampling_section(args, budget: Budget) -> str:
    denoiser = ema_denoiser()
    shape, batch, seeds = (3, 32, 32), args.sample_batch, list(range(args.sample_batch))
    flops_per_eval = evaluation_flops(denoiser, shape, 1, DEVICE)
    rows, checks = [], []
    for label, spec in sampling_specs(churn=False).items():
        if not budget.allows(f"sampling: {label}", args.sampling_estimate):
            continue
        sampler = build_sampler(**spec)
        plan = sampler.plan(denoiser)
        nfe, count, sigmas = plan.nfe, len(plan.noise_injections), sampler.sigmas(denoiser).tolist()

        def library(dtype=None, allow_tf32=False, s=sampler):
            def run():
                with tf32(allow_tf32):
                    out = s(denoiser, seeds=seeds, shape=shape, device=DEVICE, model_dtype=dtype).samples
                sync()
                return out
            return run

        def loop(noise_factory, s=spec, sigmas=sigmas):
            def run():
                with tf32(False):
                    out = minimal_loop(s, denoiser, noise_factory(), shape, sigmas)
                sync()
                return out
            return run

        fns = {
            "library, float32": library(),
            "minimal/per-sample, float32": loop(lambda c=count: PerSampleNoise(seeds, shape, c, DEVICE)),
            "minimal/batched, float32": loop(lambda: BatchNoise(0, batch, DEVICE)),
            "library, TF32": library(allow_tf32=True),
            "library, bf16 network": library(dtype=torch.bfloat16),
        }
        precision_of = {"library, TF32": "tf32", "library, bf16 network": "bf16"}
        reference = fns["library, float32"]()
        same = torch.equal(reference, fns["minimal/per-sample, float32"]())
        checks.append(f"{label}: library samples == minimal/per-sample samples (float32): {same}")
        differences = {}
        for name in ("library, TF32", "library, bf16 network"):
            d = (fns[name]() - reference).abs()
            differences[name] = f"{d.max().item():.3g} / {d.mean().item():.3g}"
        times = {name: [] for name in fns}
        for _ in range(args.sample_repeats):
            for name, fn in fns.items():
                times[name].append(timed(fn))
        ratios = paired_ratios(times, "minimal/per-sample, float32")
        for name, ts in times.items():
            precision = precision_of.get(name, "fp32")
            t = median(ts)
            rows.append([label, nfe, name, f"{t:.3f}", f"{1e3 * t / nfe:.2f}", f"{ratios[name]:.3f}",
                         *flops_columns(flops_per_eval * batch * nfe, t, peak(precision)), precision,
                         differences.get(name, "0 (reference)" if name == "library, float32" else "")])
        print(rows[-5:], flush=True)
    return (f"### 2. Sampling, batch {batch} of 3x32x32, untrained EMA network, {args.sample_repeats} interleaved "
            f"rounds after one warm-up (medians); {flops_per_eval / 1e9:.2f} GFLOP per image and evaluation\n\n"
            + markdown_table(["sampler", "NFE", "variant", "s per batch", "ms per NFE", "ratio vs minimal/per-sample",
                              "achieved", "of peak", "peak used", "max / mean abs difference to float32 samples"],
                             rows)
            + "\n\n" + "\n".join(f"- {c}" for c in checks))


# ---------------------------------------------------------------------------------- 3. FID-50k
def fid_section(args, budget: Budget) -> str:
    from evaluation_cost import InceptionStandIn

    if not budget.allows("FID-50k chunk", args.fid_estimate):
        return ""
    denoiser = ema_denoiser()
    spec = sampling_specs()["restart preset"]
    sampler = build_sampler(**spec)
    nfe = sampler.plan(denoiser).nfe
    batch = args.fid_batch
    inception = InceptionStandIn().to(DEVICE)
    seeds = range(batch * (args.fid_chunk + 1))  # the first batch warms up, untimed
    batches = generate_batches(sampler, denoiser, seeds, shape=(3, 32, 32), batch_size=batch, device=DEVICE)
    sampling_s = features_s = 0.0
    images = 0
    for i in range(args.fid_chunk + 1):
        sync()
        started = time.perf_counter()
        generated = next(batches)
        sync()
        sampled = time.perf_counter()
        with torch.no_grad():
            inception(generated.samples.to(DEVICE))
        sync()
        if i > 0:
            sampling_s += sampled - started
            features_s += time.perf_counter() - sampled
            images += generated.samples.shape[0]
    per_image = (sampling_s + features_s) / images
    rows = [
        ["measured chunk", images, f"{sampling_s:.2f}", f"{features_s:.2f}", f"{sampling_s + features_s:.2f}"],
        [f"EXTRAPOLATED: FID-{FID_IMAGES // 1000}k generation + features", FID_IMAGES,
         f"{sampling_s / images * FID_IMAGES:.0f}", f"{features_s / images * FID_IMAGES:.0f}",
         f"{per_image * FID_IMAGES:.0f} ({per_image * FID_IMAGES / 60:.1f} min)"],
        [f"EXTRAPOLATED: reference statistics of {FID_IMAGES} real images (once; cached afterwards)", FID_IMAGES,
         "", f"{features_s / images * FID_IMAGES:.0f}", f"{features_s / images * FID_IMAGES:.0f}"],
    ]
    return (f"### 3. FID-50k wall time, Restart preset ({nfe} NFE), batch {batch}, PyTorch's default precision "
            "flags\n\n"
            f"A chunk of {args.fid_chunk} batches after one warm-up batch, extrapolated linearly to {FID_IMAGES} "
            "images (sampling and feature time are linear in the number of images; scaling.md). Inception-v3: "
            "torchvision's architecture with random weights (the same compute).\n\n"
            + markdown_table(["what", "images", "sampling s", "Inception features s", "total s"], rows))


# ---------------------------------------------------------------------------------- 4. training
class ImageClock(pl.Callback):
    """Images per second from the start of step ``warmup`` to the end of the last step (synchronised)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.started, self.ended, self.images = warmup, None, None, 0
        self.created, self.first_batch = time.perf_counter(), None  # start-up = first_batch - created

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first_batch is None:
            self.first_batch = time.perf_counter()
        if trainer.global_step == self.warmup:
            sync()
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step > self.warmup:
            self.images += batch[0].shape[0]
        if trainer.global_step == trainer.max_steps:
            sync()
            self.ended = time.perf_counter()


def lightning_run(root: Path, args, precision: str, channels_last: bool, compile: bool, warmup: int):
    """(images/s, peak memory GiB, start-up s, warm-up s) of Trainer.fit."""
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    clock = ImageClock(warmup)
    module = make_module(channels_last, compile=False)
    if compile:  # what model.compile=true does in setup (nn.Module.compile of the network, in place)
        compile_in_place(module.model.net)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(
            accelerator=DEVICE.type, devices=1, precision=precision, max_steps=warmup + args.steps,
            limit_val_batches=0, enable_progress_bar=False, enable_model_summary=False,
            logger=TensorBoardLogger(tmp, name="bench"), default_root_dir=tmp, callbacks=[clock],
            log_every_n_steps=100, enable_checkpointing=False,
        )
        trainer.fit(module, datamodule=make_data(root, args.batch))
    return (clock.images / (clock.ended - clock.started), peak_memory_gib(), clock.first_batch - clock.created,
            clock.started - clock.first_batch)


def bare_run(root: Path, args, bf16: bool, channels_last: bool, compile: bool, warmup: int) -> float:
    """The config's training step in plain PyTorch: autocast, memory format, Adam + warm-up, EMA."""
    module = make_module(channels_last=channels_last)
    denoiser, loss_fn, hp = module.model.to(DEVICE).train(), module.loss_fn, module.hparams
    if channels_last:
        denoiser.to(memory_format=torch.channels_last)
    if compile:
        compile_in_place(denoiser.net)
    ema = EMA(denoiser, hp.ema_half_life, hp.ema_rampup_ratio).to(DEVICE)
    configured = module.configure_optimizers()
    opt, schedule = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    data = make_data(root, args.batch)
    data.setup("fit")
    step, images, started = 0, 0, None
    while step < warmup + args.steps:
        for y, _ in data.train_dataloader():
            if step == warmup:
                sync()
                started = time.perf_counter()
            y = y.to(DEVICE, non_blocking=True)
            if channels_last:
                y = y.contiguous(memory_format=torch.channels_last)
            generator = torch.Generator(DEVICE).manual_seed(step)
            with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=bf16):
                per_sample, _ = loss_fn(denoiser, y, None, generator=generator)
                loss = per_sample.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            ema.update(denoiser, y.shape[0])
            step += 1
            images += y.shape[0] if step > warmup else 0
            if step == warmup + args.steps:
                break
    sync()
    return images / (time.perf_counter() - started)


TRAINING_VARIANTS = [  # label, Lightning precision, bf16, channels_last, compile, peak
    ("float32 (TF32 off)", "32-true", False, False, False, "fp32"),
    ("bf16-mixed", "bf16-mixed", True, False, False, "bf16"),
    ("bf16-mixed + channels_last (the config)", "bf16-mixed", True, True, False, "bf16"),
    ("bf16-mixed + channels_last + torch.compile", "bf16-mixed", True, True, True, "bf16"),
]


def training_section(root: Path, args, budget: Budget) -> str:
    module = make_module()
    y = torch.randn(8, 3, 32, 32, device=DEVICE)
    flops_per_image = training_step_flops(module.model.to(DEVICE).train(), module.loss_fn, y) / y.shape[0]
    del module
    rows = []
    for label, precision, bf16, channels_last, compile, peak_name in TRAINING_VARIANTS:
        needs = args.compile_estimate if compile else args.training_estimate
        if not budget.allows(f"training: {label}", needs):
            continue
        warmup = args.compile_warmup if compile else args.warmup
        try:
            with tf32(False):
                started = time.perf_counter()
                bare = bare_run(root, args, bf16, channels_last, compile, warmup)
                ips, mem, startup, warm = lightning_run(root, args, precision, channels_last, compile, warmup)
                wall = time.perf_counter() - started
            rows.append([label, f"{bare:.0f}", *flops_columns(flops_per_image * bare, 1.0, peak(peak_name)),
                         f"{ips:.0f}", *flops_columns(flops_per_image * ips, 1.0, peak(peak_name)),
                         f"{ips / bare:.3f}", f"{mem:.1f}", f"{startup:.1f}", f"{warm:.1f}", f"{wall:.0f}"])
        except Exception:  # noqa: BLE001 - a failed variant is reported, the others still run
            rows.append([label, "failed: " + traceback.format_exc(limit=1).splitlines()[-1]] + [""] * 10)
        print(rows[-1], flush=True)
    return (f"### 4. Training, batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up steps "
            f"({args.compile_warmup} with compile); {flops_per_image / 1e9:.2f} GFLOP per image (forward + "
            "backward)\n\nThe bare loop and Lightning fit run one after the other on the same card; "
            "ratio = Lightning / bare images/s. Lightning's start-up: Trainer built to first batch; warm-up: the "
            "warm-up steps (compilation, cuDNN).\n\n"
            + markdown_table(["variant", "bare images/s", "bare achieved", "bare of peak", "Lightning images/s",
                              "Lightning achieved", "Lightning of peak", "Lightning / bare", "peak GPU memory GiB",
                              "Lightning start-up s", "Lightning warm-up s", "wall s (both)"], rows))


# ---------------------------------------------------------------------------------- main
PARTS = ("startup", "sampling", "fid", "training")
PART_CAPS = {"startup": 150.0, "sampling": 130.0, "fid": 90.0, "training": float("inf")}  # seconds, at most
SECTION_MARK = "=====SECTION====="


def run_part(part: str, args, budget: Budget) -> str:
    if part == "startup":
        return startup_section(args, budget)
    if part == "sampling":
        return sampling_section(args, budget)
    if part == "fid":
        return fid_section(args, budget)
    if not budget.allows("training: writing the random CIFAR-10 files", 20):
        return ""
    with tempfile.TemporaryDirectory() as tmp:
        write_random_cifar10(Path(tmp), 100 if SMOKE else 10_000)
        return training_section(Path(tmp), args, budget)


def run_part_isolated(part: str, argv: list[str], budget: Budget) -> str:
    """``part`` in a subprocess with a hard timeout: a stalled first step (cuDNN, compile) cannot eat the budget.

    Each part pays its own imports and one-time GPU costs (that is what part 1 measures)."""
    timeout = min(budget.left() - 5, PART_CAPS[part])
    if not budget.allows(f"part {part} (at most {PART_CAPS[part]:.0f} s)", 30):
        return ""
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--only", part, "--child",
               "--budget", f"{timeout:.0f}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as stopped:
        out = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else (stopped.stdout or "")
        budget.skipped.append(f"part {part} stopped at its time limit of {timeout:.0f} s")
        return (f"### {part}: stopped at its time limit ({timeout:.0f} s)\n\nWhat it had printed:\n\n```\n"
                + out[-4000:] + "\n```")
    print(done.stdout.split(SECTION_MARK)[0], flush=True)
    if SECTION_MARK not in done.stdout:
        return f"### {part}: failed (exit {done.returncode})\n\n```\n{done.stderr[-3000:]}\n```"
    skipped = [ln[len("[budget] skipped: "):] for ln in done.stdout.splitlines() if ln.startswith("[budget] skipped: ")]
    budget.skipped += skipped
    return done.stdout.split(SECTION_MARK, 1)[1].strip()


def without_options(argv: list[str], options: dict[str, int]) -> list[str]:
    """``argv`` without the given options and their values (at most ``options[name]`` values, up to the next --)."""
    out, i = [], 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if name in options:
            i += 1
            if "=" not in argv[i - 1]:
                taken = 0
                while i < len(argv) and taken < options[name] and not argv[i].startswith("--"):
                    i, taken = i + 1, taken + 1
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=480.0, help="wall seconds for everything (imports included)")
    parser.add_argument("--batch", type=int, default=256, help="training batch (the config's is 512 over all GPUs)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per variant")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile-warmup", type=int, default=5)
    parser.add_argument("--startup-batch", type=int, default=64)
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("--sample-repeats", type=int, default=2)
    parser.add_argument("--fid-batch", type=int, default=500, help="the config's evaluation batch")
    parser.add_argument("--fid-chunk", type=int, default=2, help="timed batches of the FID-50k extrapolation")
    parser.add_argument("--sampling-estimate", type=float, default=50, help="seconds one sampler's rows need")
    parser.add_argument("--fid-estimate", type=float, default=60)
    parser.add_argument("--training-estimate", type=float, default=60, help="seconds a bare + Lightning pair needs")
    parser.add_argument("--compile-estimate", type=float, default=120)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=None)
    parser.add_argument("--in-process", action="store_true",
                        help="run the parts in this process (the default with --smoke; otherwise each part runs in a "
                             "subprocess with a hard timeout)")
    parser.add_argument("--subprocesses", action="store_true", help="--smoke with each part in a subprocess")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny network on the CPU: checks the script, not speed")
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    global SMOKE, DEVICE
    if args.smoke:
        SMOKE, DEVICE = True, torch.device("cpu")
        args.batch, args.steps, args.warmup, args.compile_warmup, args.startup_batch = 4, 2, 1, 1, 2
        args.sample_batch, args.sample_repeats, args.fid_batch, args.fid_chunk = 2, 1, 2, 1
        args.sampling_estimate = args.fid_estimate = args.training_estimate = args.compile_estimate = 1
    elif not torch.cuda.is_available():
        raise SystemExit("gpu_cifar10.py needs a CUDA GPU (or --smoke)")
    parts = args.only or list(PARTS)
    budget = Budget(args.budget)
    info = machine_info()
    if DEVICE.type == "cuda":
        info["peaks (datasheet, dense)"] = ", ".join(
            f"{p} {peak(p) / 1e12:.1f} TFLOP/s" if peak(p) else f"{p} unknown" for p in ("fp32", "tf32", "bf16"))
    if args.child or args.in_process or (args.smoke and not args.subprocesses):
        sections = [run_part(part, args, budget) for part in parts]
    else:
        passed = without_options(raw, {"--only": len(PARTS), "--budget": 1, "--subprocesses": 0, "--in-process": 0})
        sections = [run_part_isolated(part, passed, budget) for part in parts]
    body_sections = "\n\n".join(s for s in sections if s)
    if args.child:  # a part run by run_part_isolated: hand the section back to the parent
        print(SECTION_MARK + "\n" + body_sections, flush=True)
        return body_sections
    used = time.perf_counter() - _STARTED
    budget_line = (f"Time budget: {used:.0f} s used of {args.budget:.0f} s. "
                   + ("Skipped: " + "; ".join(budget.skipped) + "." if budget.skipped else "Nothing skipped."))
    print(budget_line, flush=True)
    body = budget_line + "\n\n" + body_sections
    if SMOKE:
        print(body)
        return body
    write_result("gpu_cifar10", "CIFAR-10 config on one GPU: start-up, sampling, FID-50k time, training", body, info,
                 used)
    return body


if __name__ == "__main__":
    main()
