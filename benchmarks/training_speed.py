"""Training steps per second: Lightning (as ``main.py fit``) against a bare PyTorch loop, on the CPU.

Both train the same Denoiser (network + EDM preconditioning) with the same data stream, EDM loss
and per-step noise generator, Adam with the linear warm-up schedule, gradient clipping 1.0 and the
EDM EMA (restart_lightning.ema.EMA) after every step.

- toy MLP: configs/toy.yaml (batch 512), Lightning built from that file's model, data and trainer
  settings (TensorBoard logger every 50 steps, checkpoint per epoch of 100 steps, progress bar off),
  without validation and without the SamplerEvaluation callback (evaluation_cost.py times those);
- small U-Net: restart_lightning.networks.unet.UNet on the 8x8 digits (DigitsDataModule, batch 64),
  same trainer settings.
Throughput is measured between the end of a warm-up and the last step (a callback / the loop's own
clock), runs interleaved (Lightning, bare, Lightning, bare, ...). Achieved FLOP/s: the step's matmul
FLOPs (forward + backward, _flops.training_step_flops) times steps/s, against the CPU's measured
float32 matmul peak at the same thread count (_flops.py). One extra Lightning run per model
with Lightning's SimpleProfiler, and the bare loop's own phase timings, show where the time goes.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning.pytorch as pl
import torch
from _common import instantiate, machine_info, markdown_table, median, set_threads, toy_config, write_result
from _flops import flops_columns, peak_flops, peak_lines, training_step_flops
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.profilers import SimpleProfiler

from restart_lightning.data.digits import DigitsDataModule
from restart_lightning.ema import EMA
from restart_lightning.module import DiffusionModule
from restart_lightning.networks.unet import UNet

UNET = dict(resolution=8, in_channels=1, base_channels=16, channel_mult=(1, 2), num_blocks=1,
            attn_resolutions=(4,), dropout=0.0)


class StepClock(pl.Callback):
    """Wall time from the start of step ``warmup`` to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.started, self.ended, self.steps = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ended, self.steps = time.perf_counter(), trainer.global_step - self.warmup


class BeforeIssue16(DiffusionModule):
    """DiffusionModule as it was before issue 16's changes: train/loss logged at every step, torch's
    default (single-tensor) Adam on the CPU. For the before/after row (--before)."""

    def _loss_read_at(self, batch_idx: int) -> bool:
        return True

    def configure_optimizers(self):
        configured = super().configure_optimizers()
        for group in configured["optimizer"].param_groups:
            group["foreach"] = None
        return configured


def setups(max_unet_batch: int):
    """(name, make_module, make_datamodule, trainer_kwargs) for the toy MLP and the U-Net."""
    cfg = toy_config()
    model_args = {k: v for k, v in cfg["model"].items() if k != "net"}
    trainer_args = {k: cfg["trainer"][k] for k in ("gradient_clip_val", "log_every_n_steps", "accelerator", "devices")}
    toy = ("toy MLP (configs/toy.yaml, batch 512)",
           lambda cls=DiffusionModule: cls(net=instantiate(cfg["model"]["net"]), **model_args),
           lambda: instantiate(cfg["data"]), trainer_args)
    unet = (f"U-Net {UNET} on digits 8x8 (batch {max_unet_batch})",
            lambda cls=DiffusionModule: cls(net=UNet(**UNET), preconditioning="edm", sigma_data=0.5,
                                            lr=model_args["lr"], lr_warmup_steps=model_args["lr_warmup_steps"]),
            lambda: DigitsDataModule(batch_size=max_unet_batch, use_labels=False), trainer_args)
    return [toy, unet]


def lightning_run(make_module, make_data, trainer_args, steps: int, warmup: int, profiler=None) -> float:
    """Steps per second of Trainer.fit after the warm-up."""
    torch.manual_seed(0)
    clock = StepClock(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(
            max_steps=warmup + steps, limit_val_batches=0, enable_progress_bar=False, enable_model_summary=False,
            logger=TensorBoardLogger(tmp, name="bench"), default_root_dir=tmp, callbacks=[clock],
            profiler=profiler, **trainer_args,
        )
        trainer.fit(make_module(), datamodule=make_data())
    return clock.steps / (clock.ended - clock.started)


def bare_run(make_module, make_data, trainer_args, steps: int, warmup: int, phases: dict | None = None) -> float:
    """The same training with no Lightning: data, loss, backward, clip, Adam + schedule, EMA."""
    torch.manual_seed(0)
    module = make_module()  # only for its pieces: the Denoiser, the loss, the optimizer settings
    denoiser, loss_fn, hp = module.model, module.loss_fn, module.hparams
    ema = EMA(denoiser, hp.ema_half_life, hp.ema_rampup_ratio)
    # The module's own optimizer and schedule (Adam, foreach on the CPU, linear warm-up): the same update.
    configured = module.configure_optimizers()
    opt, schedule = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    data = make_data()
    if hasattr(data, "setup"):
        data.setup("fit")
    loader = data.train_dataloader()
    clip = trainer_args["gradient_clip_val"]
    denoiser.train()
    step, started, tick = 0, None, time.perf_counter
    while step < warmup + steps:
        for batch in loader:
            if step == warmup:
                started = tick()
            t0 = tick()
            y = batch[0] if isinstance(batch, (tuple, list)) else batch
            generator = torch.Generator().manual_seed(hash((0, step, 0)) & 0x7FFF_FFFF_FFFF_FFFF)
            t1 = tick()
            per_sample, _ = loss_fn(denoiser, y, None, generator=generator)
            loss = per_sample.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t2 = tick()
            torch.nn.utils.clip_grad_norm_(denoiser.parameters(), clip)
            opt.step()
            schedule.step()
            t3 = tick()
            ema.update(denoiser, y.shape[0])
            t4 = tick()
            if phases is not None and step >= warmup:
                for name, dt in (("loss + backward", t2 - t1), ("clip + Adam + schedule", t3 - t2),
                                 ("EMA", t4 - t3), ("batch + generator", t1 - t0)):
                    phases[name] = phases.get(name, 0.0) + dt
            step += 1
            if step == warmup + steps:
                break
    return steps / (tick() - started)


def step_flops(make_module, make_data) -> int:
    """Matmul FLOPs of one training step (forward + backward) on one batch of the loader."""
    module, data = make_module(), make_data()
    if hasattr(data, "setup"):
        data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    y = batch[0] if isinstance(batch, (tuple, list)) else batch
    return training_step_flops(module.model.train(), module.loss_fn, y)


def simple_profile(make_module, make_data, trainer_args, steps: int, warmup: int, top: int = 10) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        profiler = SimpleProfiler(dirpath=tmp, filename="profile")
        lightning_run(make_module, make_data, trainer_args, steps, warmup, profiler=profiler)
        rows = []
        for action, durations in profiler.recorded_durations.items():
            if durations:
                rows.append((action, len(durations), sum(durations) / len(durations), sum(durations)))
    rows.sort(key=lambda r: -r[3])
    return markdown_table(["Lightning action", "calls", "mean ms", "total s"],
                          [[a, n, 1e3 * m, t] for a, n, m, t in rows[:top]])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--toy-steps", type=int, default=400, help="timed steps per run, toy MLP")
    p.add_argument("--unet-steps", type=int, default=40, help="timed steps per run, U-Net")
    p.add_argument("--unet-batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="interleaved runs per variant")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--before", action="store_true",
                   help="also time the module as before issue 16 (BeforeIssue16), interleaved with the others")
    args = p.parse_args()
    set_threads(args.threads)
    info, started = machine_info(), time.perf_counter()
    peak, _ = peak_flops("cpu")
    rows, sections = [], []
    for (name, make_module, make_data, targs), steps in zip(setups(args.unet_batch), (args.toy_steps, args.unet_steps)):
        warmup = max(10, steps // 10)
        flops = step_flops(make_module, make_data)
        runs = {
            "Lightning fit (as configured)": lambda a=(make_module, make_data, targs, steps, warmup): lightning_run(*a),
            "bare loop": lambda a=(make_module, make_data, targs, steps, warmup): bare_run(*a),
        }
        if args.before:
            runs["Lightning fit, before issue 16"] = (
                lambda a=(make_module, make_data, targs, steps, warmup): lightning_run(lambda: a[0](BeforeIssue16),
                                                                                       *a[1:]))
        sps = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, fn in runs.items():
                sps[k].append(fn())
        bare = sps["bare loop"]
        for k, values in sps.items():
            ratio = median([a / b for a, b in zip(values, bare)])
            ms, ms_bare = 1e3 / median(values), 1e3 / median(bare)
            rows.append([name if k == next(iter(sps)) else "", k, steps, f"{median(values):.2f}",
                         f"{ratio:.3f}", f"{ms:.2f}", f"{ms - ms_bare:+.2f}",
                         f"{flops / 1e6:.1f}", *flops_columns(flops, 1 / median(values), peak)])
        print(f"{name}: " + ", ".join(f"{k.strip()} {median(v):.2f}" for k, v in sps.items()), flush=True)
        phases: dict[str, float] = {}
        bare_run(make_module, make_data, targs, steps, warmup, phases)
        phase_rows = [[k, 1e3 * v / steps] for k, v in sorted(phases.items(), key=lambda kv: -kv[1])]
        sections.append(
            f"### {name}\n\nLightning, SimpleProfiler ({steps} steps after {warmup} warm-up; totals include the "
            "warm-up):\n\n" + simple_profile(make_module, make_data, targs, steps, warmup)
            + "\n\nBare loop, own clock per phase:\n\n" + markdown_table(["bare-loop phase", "ms / step"], phase_rows)
        )
    table = markdown_table(["model", "variant", "timed steps", "steps/s (median)", "ratio to bare (paired median)",
                            "ms/step", "ms/step over bare", "MFLOP per step (fwd+bwd)", "achieved",
                            "of CPU matmul peak"], rows)
    body = (f"{args.repeats} interleaved rounds of both variants; medians. Shared 2-core machine: absolute numbers "
            "are noisy, the paired ratios less so. Both variants use the module's optimizer (Adam, multi-tensor "
            "on the CPU) and schedule.\n\n" + peak_lines("cpu") + "\n\n" + table + "\n\n"
            + "\n\n".join(sections))
    write_result("training_speed", "Training speed: Lightning fit against a bare PyTorch loop (CPU)", body, info,
                 time.perf_counter() - started)


if __name__ == "__main__":
    main()
