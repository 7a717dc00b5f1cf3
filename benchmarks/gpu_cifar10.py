"""GPU speed of the CIFAR-10 config: training images/s by precision, memory format and compile; sampling
time per NFE of our samplers against minimal loops. Needs a CUDA GPU; writes benchmarks/results/gpu_cifar10.md.

Model: configs/cifar10_edm.yaml's DDPM++ (55.7M parameters) with EDM preconditioning, loss and EMA.
Data: CIFAR10DataModule reading 50,000 random images that this script writes in the real CIFAR-10
python format (the GPU machine is offline; the speed does not depend on the pixels), with the
config's loader settings (workers, pinned memory, flips).

Training, each variant a real ``Trainer.fit`` (as ``main.py fit``; no validation, TensorBoard logger),
images/s over the steps after a warm-up (compilation happens in the warm-up):
  32-true; bf16-mixed; bf16-mixed + channels_last (the config); bf16-mixed + channels_last + compile;
  and a bare PyTorch loop doing the config's step (bf16 autocast, channels_last, Adam, EMA) on the
  same loader, for the Lightning/bare ratio.
Sampling (untrained EMA network; speed does not depend on the weights), batch --sample-batch, the
config's three validation samplers: library (float32 network; and bf16 network via model_dtype)
against the minimal loops of _minimal.py with the same per-sample noise on the GPU (equal samples)
and with one generator for the batch.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
import traceback
from pathlib import Path

from _common import REPO, instantiate, machine_info, markdown_table, median, paired_ratios, time_interleaved, write_result
from _minimal import BatchNoise, PerSampleNoise, minimal_loop

import lightning.pytorch as pl
import numpy as np
import torch
import yaml
from lightning.pytorch.loggers import TensorBoardLogger

from restart_lightning.data import CIFAR10DataModule
from restart_lightning.ema import EMA
from restart_lightning.module import DiffusionModule
from restart_lightning.sampling import build_sampler

CONFIG = REPO / "configs" / "cifar10_edm.yaml"


def write_random_cifar10(root: Path, n_per_batch: int = 10_000) -> None:
    """Random uint8 images in the CIFAR-10 python format (5 training batches and a test batch)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": rng.integers(0, 10, n_per_batch).tolist()}, f)


SMOKE_NET = {"base_channels": 16, "channel_mult": [1, 2], "num_blocks": 1, "attn_resolutions": [16]}
SMOKE = False  # --smoke: a tiny network on the CPU, to check this script before spending GPU time
DEVICE = torch.device("cuda")


def config() -> dict:
    cfg = yaml.safe_load(CONFIG.read_text())
    if SMOKE:
        cfg["model"]["net"]["init_args"].update(SMOKE_NET)
    return cfg


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def peak_memory_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if DEVICE.type == "cuda" else float("nan")


def make_module(channels_last: bool, compile: bool) -> DiffusionModule:
    model = dict(config()["model"])
    net = instantiate(model.pop("net"))
    model.update(channels_last=channels_last, compile=compile)
    return DiffusionModule(net=net, **model)


def make_data(root: Path, batch: int) -> CIFAR10DataModule:
    # random images in the official format: not the official files, so no MD5 check (read safely all the same)
    args = dict(config()["data"]["init_args"], root=str(root), batch_size=batch, verify_checksums=False)
    return CIFAR10DataModule(**args)


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


def lightning_images_per_s(root: Path, batch: int, precision: str, channels_last: bool, compile: bool,
                           steps: int, warmup: int) -> tuple[float, float, float, float]:
    """(images/s, peak GPU memory GiB, start-up s, warm-up s) of Trainer.fit.

    Start-up: from building the Trainer to the first batch; warm-up: the first ``warmup`` steps
    (cuDNN's kernel selection and compilation, torch.compile)."""
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    clock = ImageClock(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(
            accelerator=DEVICE.type, devices=1, precision=precision, max_steps=warmup + steps, limit_val_batches=0,
            enable_progress_bar=False, enable_model_summary=False, logger=TensorBoardLogger(tmp, name="bench"),
            default_root_dir=tmp, callbacks=[clock], log_every_n_steps=100, enable_checkpointing=False,
        )
        trainer.fit(make_module(channels_last, compile), datamodule=make_data(root, batch))
    return (clock.images / (clock.ended - clock.started), peak_memory_gib(), clock.first_batch - clock.created,
            clock.started - clock.first_batch)


def bare_images_per_s(root: Path, batch: int, steps: int, warmup: int) -> float:
    """The config's training step in plain PyTorch: bf16 autocast, channels_last, Adam + warm-up, EMA."""
    module = make_module(channels_last=True, compile=False)
    device = DEVICE
    denoiser, loss_fn, hp = module.model.to(device), module.loss_fn, module.hparams
    denoiser.to(memory_format=torch.channels_last).train()
    ema = EMA(denoiser, hp.ema_half_life, hp.ema_rampup_ratio).to(device)
    opt = torch.optim.Adam(denoiser.parameters(), lr=hp.lr, betas=tuple(hp.betas), eps=hp.eps)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / max(hp.lr_warmup_steps, 1), 1.0))
    data = make_data(root, batch)
    data.setup("fit")
    step, images, started = 0, 0, None
    while step < warmup + steps:
        for y, _ in data.train_dataloader():
            if step == warmup:
                sync()
                started = time.perf_counter()
            y = y.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            generator = torch.Generator(device).manual_seed(step)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                per_sample, _ = loss_fn(denoiser, y, None, generator=generator)
                loss = per_sample.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            ema.update(denoiser, y.shape[0])
            step += 1
            images += y.shape[0] if step > warmup else 0
            if step == warmup + steps:
                break
    sync()
    return images / (time.perf_counter() - started)


EAGER_VARIANTS = [
    ("bf16-mixed + channels_last (the config)", "bf16-mixed", True, False),
    ("bf16-mixed", "bf16-mixed", False, False),
    ("32-true", "32-true", False, False),
]
COMPILED_VARIANTS = [("bf16-mixed + channels_last + compile", "bf16-mixed", True, True)]


def training_rows(root: Path, args, variants, with_bare: bool) -> list[list]:
    rows, measured = [], {}
    for label, precision, channels_last, compile in variants:
        try:
            warmup = args.compile_warmup if compile else args.warmup
            started = time.perf_counter()
            ips, mem, startup, warm = lightning_images_per_s(root, args.batch, precision, channels_last, compile,
                                                             args.steps, warmup)
            measured[label] = ips
            rows.append([f"Lightning fit, {label}", f"{ips:.0f}", f"{mem:.1f}", f"{startup:.0f}", f"{warm:.0f}",
                         f"{time.perf_counter() - started:.0f}"])
        except Exception:  # noqa: BLE001 - a failed variant is reported, the others still run
            rows.append([f"Lightning fit, {label}", "failed: " + traceback.format_exc(limit=1).splitlines()[-1]]
                        + [""] * 4)
        print(rows[-1], flush=True)
    if not with_bare:
        return rows
    try:
        bare = bare_images_per_s(root, args.batch, args.steps, args.warmup)
        rows.append(["bare loop, bf16 autocast + channels_last", f"{bare:.0f}"] + [""] * 4)
        config_label = "bf16-mixed + channels_last (the config)"
        if config_label in measured:
            rows.append(["ratio Lightning (the config) / bare loop", f"{measured[config_label] / bare:.3f}"] + [""] * 4)
    except Exception:  # noqa: BLE001
        rows.append(["bare loop", "failed: " + traceback.format_exc(limit=1).splitlines()[-1]] + [""] * 4)
    print(rows[-1], flush=True)
    return rows


def training_section(rows: list[list], args) -> str:
    return (f"### Training throughput, batch {args.batch}, {args.steps} timed steps after a warm-up of {args.warmup} "
            f"({args.compile_warmup} with compile)\n\n"
            + markdown_table(["variant", "images/s", "peak GPU memory GiB", "start-up s", "warm-up s", "wall s"], rows))


SAMPLERS = {
    "heun": {"name": "heun", "num_steps": 18},
    "edm_sde": {"name": "edm_sde", "num_steps": 18, "S_churn": 30.0, "S_min": 0.01, "S_max": 1.0, "S_noise": 1.0},
    "restart": {"name": "restart", "num_steps": 18, "restart_intervals": [[3, 2, 0.14, 0.3]]},
}


def sampling_section(args) -> str:
    device = DEVICE
    module = make_module(channels_last=False, compile=False)
    denoiser = module.ema.module.to(device).eval().requires_grad_(False)
    shape, batch, seeds = (3, 32, 32), args.sample_batch, list(range(args.sample_batch))
    rows, checks = [], []
    for label, spec in SAMPLERS.items():
        sampler = build_sampler(**spec)
        nfe = sampler.plan(denoiser).nfe
        sigmas = sampler.sigmas(denoiser).tolist()

        def loop(noise, spec=spec, sigmas=sigmas):
            return minimal_loop(spec, denoiser, noise, shape, sigmas)

        def synced(fn):
            def run():
                out = fn()
                sync()
                return out
            return run

        fns = {
            "minimal/per-sample": synced(lambda loop=loop: loop(PerSampleNoise(seeds, device))),
            "library": synced(lambda s=sampler: s(denoiser, seeds=seeds, shape=shape, device=device).samples),
            "minimal/batched": synced(lambda loop=loop: loop(BatchNoise(0, batch, device))),
            "library, bf16 network": synced(lambda s=sampler: s(denoiser, seeds=seeds, shape=shape, device=device,
                                                                 model_dtype=torch.bfloat16).samples),
        }
        same = torch.allclose(fns["library"](), fns["minimal/per-sample"](), rtol=0, atol=1e-5)
        checks.append(f"{label}: library samples == minimal/per-sample samples (atol 1e-5): {same}")
        times = time_interleaved(fns, args.sample_repeats, warmup=1)
        ratios = paired_ratios(times, "minimal/per-sample")
        for variant, ts in times.items():
            rows.append([label, nfe, variant, f"{median(ts):.3f}", f"{1e3 * median(ts) / nfe:.2f}",
                         f"{ratios[variant]:.3f}"])
        print(rows[-4:], flush=True)
    return (f"### Sampling, batch {batch} of 3x32x32, untrained DDPM++ EMA network, {args.sample_repeats} interleaved "
            "rounds after one warm-up (medians)\n\n"
            + markdown_table(["sampler", "NFE", "variant", "s per batch", "ms per NFE", "ratio vs minimal/per-sample"],
                             rows)
            + "\n\n" + "\n".join(f"- {c}" for c in checks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256, help="training batch (the config's is 512 over all GPUs)")
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per variant")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--compile-warmup", type=int, default=15)
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("--sample-repeats", type=int, default=3)
    parser.add_argument("--only", choices=["training", "sampling"], default=None)
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN time its algorithms per shape (slow to warm up with bf16 channels_last)")
    parser.add_argument("--smoke", action="store_true", help="tiny network on the CPU: checks the script, not speed")
    args = parser.parse_args()
    global SMOKE, DEVICE
    if args.smoke:
        SMOKE, DEVICE = True, torch.device("cpu")
    elif not torch.cuda.is_available():
        raise SystemExit("gpu_cifar10.py needs a CUDA GPU (or --smoke)")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    info, started = machine_info(), time.perf_counter()
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_random_cifar10(root)
        # Compilation last: if it is slow, the eager numbers and the sampling table are already in.
        rows = training_rows(root, args, EAGER_VARIANTS, with_bare=True) if args.only != "sampling" else []
        if args.only != "training":
            sections.append(sampling_section(args))
        if args.only != "sampling":
            rows += training_rows(root, args, COMPILED_VARIANTS, with_bare=False)
            sections.insert(0, training_section(rows, args))
    if SMOKE:
        print("\n\n".join(sections))
        return
    write_result("gpu_cifar10", "CIFAR-10 config on a GPU: training throughput and sampling time per NFE",
                 "\n\n".join(sections), info, time.perf_counter() - started)


if __name__ == "__main__":
    main()
