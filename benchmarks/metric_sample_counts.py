"""How FID, KID and precision/recall move with the sample count, on the digits model (docs/metrics.md).

N samples of one sampler (sample i from seed i) are cut into N // n disjoint blocks of n
consecutive seeds for every n in --counts; each metric is computed on each block (the evaluation's
own seed-block machinery, ``build_metric_suite(..., seed_blocks=N // n)``), giving its mean and
spread at n. A second, cheaper sampler on the first seeds shows the paired comparison.

No Inception or DINOv2 weights are reachable here, so two offline feature spaces stand in:
- ``pixels``: the 64 pixel values (identity features; the digits config's choice);
- ``classifier``: the 128-d penultimate layer of a small CNN trained here on the digits
  (seeded, ~20 s; held-out accuracy printed), which plays Inception's role as LeNet features do
  for MNIST FID.
The real side is all 1,797 digits (KID: all of them; precision/recall: a seeded subset of n, or
all 1,797 when n is larger).

    python benchmarks/metric_sample_counts.py [--digits-ckpt PATH] [--num-samples 20000]

Samples and the classifier are cached in benchmarks/.cache/ (a rerun only recomputes metrics).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from _common import CACHE, REPO, instantiate, load_ema_denoiser, machine_info, markdown_table, set_threads, write_result
from torch import nn

from restart_lightning.data import DigitsDataModule
from restart_lightning.data.digits import load_digits_images
from restart_lightning.evaluation.generation import generate_batches
from restart_lightning.evaluation.metric_suite import build_metric_suite
from restart_lightning.evaluation.uncertainty import paired_difference, summarize
from restart_lightning.sampling import build_sampler

METRICS = ["frechet", "kid", "precision", "recall"]
SHOWN = {"frechet": "FD", "kid": "KID x 1000", "precision": "precision", "recall": "recall"}
SCALE = {"frechet": 1.0, "kid": 1000.0, "precision": 1.0, "recall": 1.0}


class DigitClassifier(nn.Module):
    """A small CNN for 8x8 digits; its forward gives the 128-d penultimate layer divided by ``scale``.

    ``scale`` (set after training) is the real features' root mean square, so that x.y / d is O(1)
    as for Inception's pool features: KID's kernel (x.y / d + 1)^3 is not scale invariant.
    """

    num_features = 128
    scale = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, 64, 3, padding=1), nn.GELU(),
            nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64 * 16, 128), nn.GELU(),
        )
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # the features: what the metrics see
        return self.body(x.clamp(-1, 1)) / self.scale


def train_classifier(path: Path, epochs: int = 30) -> tuple[DigitClassifier, float]:
    """Trained on 80% of the digits (seeded split), accuracy on the other 20%; cached at ``path``."""
    images, labels = load_digits_images()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    train, held = order[: int(0.8 * len(order))], order[int(0.8 * len(order)):]
    model = DigitClassifier()
    if path.is_file():
        model.load_state_dict(torch.load(path, weights_only=True))
    else:
        torch.manual_seed(0)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for epoch in range(epochs):
            for rows in train[torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch))].split(64):
                loss = nn.functional.cross_entropy(model.head(model(images[rows])), labels[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    model.eval().requires_grad_(False)
    accuracy = (model.head(model(images[held])).argmax(1) == labels[held]).float().mean().item()
    model.scale = float(model(images).pow(2).mean().sqrt())
    return model, accuracy


def generate(denoiser, spec: dict, n: int, cache: Path) -> np.ndarray:
    """Samples of seeds 0..n-1 (class labels drawn per seed), float32 [n, 1, 8, 8]; cached in ``cache``."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as f:
            if f["samples"].shape[0] >= n:
                return f["samples"][:n]
    sampler = build_sampler(**spec)
    chunks, started = [], time.perf_counter()
    for batch in generate_batches(sampler, denoiser, range(n), shape=(1, 8, 8), batch_size=500, device="cpu",
                                  num_classes=10):
        chunks.append(batch.samples.numpy())
        done = sum(len(c) for c in chunks)
        print(f"  {spec}: {done}/{n} samples, {time.perf_counter() - started:.0f} s", flush=True)
    samples = np.concatenate(chunks)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, samples=samples)
    return samples


def block_values(datamodule, feature, samples: np.ndarray, n: int) -> dict[str, list[float]]:
    """Each metric on each of the len(samples) // n blocks of n consecutive seeds."""
    total = len(samples) // n * n
    suite = build_metric_suite(datamodule, feature, reference_stats=None, num_reference_samples=1797,
                               num_samples=total, names=METRICS, seed_blocks=total // n if total > n else 0)
    x = torch.from_numpy(samples[:total])
    if not suite.num_blocks:  # one block: the value itself
        return {name: [value] for name, value in suite.score(x).items()}
    for rows in torch.arange(total).split(2000):
        suite.update(x[rows], indices=rows)
    return suite.compute_blocks()


def fmt_spread(values: list[float], scale: float) -> tuple[str, str]:
    if len(values) < 2:
        return f"{values[0] * scale:.4g}", "-"
    s = summarize([v * scale for v in values])
    return f"{s.mean:.4g}", f"{s.std:.2g} (± {s.half_width:.2g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-config", type=Path, default=REPO / "configs" / "digits.yaml")
    parser.add_argument("--digits-ckpt", type=Path, default=CACHE / "digits.ckpt")
    parser.add_argument("--num-samples", type=int, default=20_000)
    parser.add_argument("--counts", type=int, nargs="+", default=[500, 1000, 2000, 5000, 10_000])
    parser.add_argument("--sampler", default="heun:10", help="name:num_steps of the studied sampler")
    parser.add_argument("--paired", default="heun:12", help="name:num_steps of the sampler compared with it")
    parser.add_argument("--paired-blocks", type=int, default=5, help="blocks of 1,000 seeds for the comparison")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    started = time.perf_counter()
    info = machine_info()

    config = yaml.safe_load(args.digits_config.read_text())
    datamodule = instantiate(config["data"])
    assert isinstance(datamodule, DigitsDataModule)
    denoiser = load_ema_denoiser(args.digits_ckpt)
    classifier, accuracy = train_classifier(CACHE / "digits_classifier.pt")
    print(f"digit classifier: held-out accuracy {accuracy:.3f}", flush=True)
    spaces = {"pixels": "identity", "classifier": classifier}

    def spec(text: str) -> dict:
        name, steps = text.split(":")
        return {"name": name, "num_steps": int(steps)}

    main_spec, paired_spec = spec(args.sampler), spec(args.paired)
    nfe = build_sampler(**main_spec).plan(denoiser).nfe
    paired_nfe = build_sampler(**paired_spec).plan(denoiser).nfe
    tag = f"{main_spec['name']}{main_spec['num_steps']}"
    samples = generate(denoiser, main_spec, args.num_samples, CACHE / f"digits_samples_{tag}.npz")
    # Real digits in a seeded random order (the data set is ordered by writer), for the floor rows.
    real = load_digits_images()[0][torch.randperm(1797, generator=torch.Generator().manual_seed(1))].numpy()

    rows = []
    for space, feature in spaces.items():
        for n in args.counts:
            values = block_values(datamodule, feature, samples, n)
            for metric in METRICS:
                mean, spread = fmt_spread(values[metric], SCALE[metric])
                rows.append([space, n, len(values[metric]), SHOWN[metric], mean, spread, nfe])
            print(f"  {space} n={n}: done, {time.perf_counter() - started:.0f} s", flush=True)
        # The data itself at n = 500: 3 disjoint random blocks of real digits, which are also part of the
        # reference (so an optimistic floor: what the metric says of perfect samples at this n).
        values = block_values(datamodule, feature, real[:1500], 500)
        for metric in METRICS:
            mean, spread = fmt_spread(values[metric], SCALE[metric])
            rows.append([space, "500 (real digits)", 3, SHOWN[metric], mean, spread, "-"])
    study = markdown_table(["features", "n", "blocks", "metric", "mean", "spread: std (± 95% half-width)", "NFE"],
                           rows)

    # Paired comparison on the first seeds: the same blocks of 1,000 seeds for both samplers.
    m = 1000 * args.paired_blocks
    other = generate(denoiser, paired_spec, m, CACHE / f"digits_samples_{paired_spec['name']}"
                                                   f"{paired_spec['num_steps']}.npz")
    paired_rows = []
    for space, feature in spaces.items():
        a = block_values(datamodule, feature, samples[:m], 1000)
        b = block_values(datamodule, feature, other, 1000)
        for metric in METRICS:
            k = SCALE[metric]
            sa, sb = summarize([v * k for v in a[metric]]), summarize([v * k for v in b[metric]])
            d = paired_difference([v * k for v in b[metric]], [v * k for v in a[metric]])
            paired_rows.append([space, SHOWN[metric], f"{sa.mean:.4g} ± {sa.half_width:.2g}",
                                f"{sb.mean:.4g} ± {sb.half_width:.2g}",
                                f"{d.mean:+.3g} [{d.low:.3g}, {d.high:.3g}]" + (" *" if d.excludes_zero() else "")])
    a_name = f"{main_spec['name']} N={main_spec['num_steps']} ({nfe} NFE)"
    b_name = f"{paired_spec['name']} N={paired_spec['num_steps']} ({paired_nfe} NFE)"
    paired = markdown_table(["features", "metric", f"A = {a_name}", f"B = {b_name}", "B - A, paired [95%]"],
                            paired_rows)

    body = (
        f"Digits model {args.digits_ckpt} ({args.digits_config.name}), EMA weights; {args.num_samples} samples of "
        f"{a_name}, class labels drawn per seed. Blocks: N // n disjoint blocks of n consecutive seeds; "
        "mean and sample std over blocks, ± the 95% t half-width of the mean. Real side: the 1,797 digits. "
        f"Classifier features: held-out accuracy {accuracy:.3f}, divided by the real features' RMS "
        f"({classifier.scale:.3g}) so that KID's kernel sees O(1) dot products.\n\n{study}\n\n"
        f"Paired comparison, {args.paired_blocks} blocks of 1,000 seeds (the same seeds for A and B), "
        f"mean ± 95% half-width per sampler, and the block-wise difference:\n\n{paired}\n"
    )
    write_result("metric_sample_counts", "Metrics against the sample count (digits)", body, info,
                 time.perf_counter() - started)


if __name__ == "__main__":
    main()
