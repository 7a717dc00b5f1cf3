"""Training steps and sampling of the small CPU models with 1 thread against torch's default (all cores).

The measurement behind ``--num_threads auto`` (restart_lightning/threads.py): one training step
(EDM loss, backward, Adam) of the toy MLP of configs/toy.yaml (batch 512) and of the digits U-Net of
configs/digits.yaml (batch 64), and a Heun sampling call of the toy evaluation (1000 samples, 45 NFE).
Variants run interleaved (1 thread, default, 1 thread, ...); ratios pair the runs of one round.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import yaml
from _common import REPO, machine_info, markdown_table, median, paired_ratios, time_interleaved, write_result

from restart_lightning.data import DigitsDataModule, ToyDataModule
from restart_lightning.module import DiffusionModule
from restart_lightning.networks import MLP, UNet
from restart_lightning.sampling import Heun


def toy_module() -> DiffusionModule:
    net = yaml.safe_load((REPO / "configs" / "toy.yaml").read_text())["model"]["net"]["init_args"]
    return DiffusionModule(MLP(**net), sigma_data=1.4)


def digits_module() -> DiffusionModule:
    net = yaml.safe_load((REPO / "configs" / "digits.yaml").read_text())["model"]["net"]["init_args"]
    return DiffusionModule(UNet(**net), sigma_data=0.5)


def training_steps(module: DiffusionModule, batch, labels, steps: int):
    optimizer = torch.optim.Adam(module.model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def run() -> None:
        for _ in range(steps):
            per_sample, _ = module.loss_fn(module.model, batch, labels, generator=generator)
            optimizer.zero_grad(set_to_none=True)
            per_sample.mean().backward()
            optimizer.step()

    return run


def with_threads(threads: int, fn):
    def run() -> None:
        torch.set_num_threads(threads)
        fn()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    args = parser.parse_args()
    started = time.perf_counter()
    default_threads = torch.get_num_threads() if not os.environ.get("OMP_NUM_THREADS") else os.cpu_count()
    toy_batch = ToyDataModule(name="grid").reference_samples(512).float()
    digits = DigitsDataModule(batch_size=64)
    digits.setup("fit")
    images, labels = next(iter(digits.train_dataloader()))[:2]
    toy, unet = toy_module(), digits_module()
    sampler = Heun(num_steps=23)
    cases = {
        "toy MLP training step (batch 512)": (training_steps(toy, toy_batch, None, args.steps), args.steps),
        "digits U-Net training step (batch 64)": (training_steps(unet, images, labels, args.steps), args.steps),
        "toy Heun sampling, 1000 samples x 45 NFE": (
            lambda: sampler(toy.model, shape=(2,), seeds=range(1000)), 1),
    }
    rows = []
    for name, (fn, units) in cases.items():
        with torch.no_grad() if "sampling" in name else torch.enable_grad():
            times = time_interleaved({"1": with_threads(1, fn), "default": with_threads(default_threads, fn)},
                                     repeats=args.repeats)
        ratio = paired_ratios(times, "1")["default"]
        rows.append([name, f"{1000 * median(times['1']) / units:.2f}",
                     f"{1000 * median(times['default']) / units:.2f}", f"{ratio:.2f}"])
        print(rows[-1], flush=True)
    table = markdown_table(["case", "1 thread (ms)", f"{default_threads} threads (ms)", "time ratio default / 1"],
                           rows)
    body = (f"Median over {args.repeats} interleaved repeats ({args.steps} training steps per timed run); "
            f"ms per training step or per sampling call.\n\n{table}\n")
    write_result("cpu_threads", "CPU threads for the small models", body, machine_info(),
                 time.perf_counter() - started)


if __name__ == "__main__":
    main()
