"""Cost of one validation-time evaluation (restart_lightning.callbacks.SamplerEvaluation), split into its parts, and
proof that the real data's reference statistics are computed once, not at every evaluation.

Two short ``Trainer.fit`` runs per setup with the real callback, evaluating after every epoch:
  - toy: configs/toy.yaml's model and samplers (heun, edm_sde, restart at 35 NFE, 4,000 samples
    each), identity features (Frechet distance in data space), NLL, modes, sliced W2;
  - images: a small U-Net on the 8x8 digits, Heun 35 NFE, Frechet distance on Inception-v3 pool
    features. The Inception weights file is not on this machine (and cannot be downloaded), so
    torchvision's Inception-v3 *architecture* with random weights stands in: the same compute per
    image (299x299 input, 2048-d features), meaningless distance values. Sample counts are small
    (CPU); the per-image feature cost scales linearly.
The parts are timed by wrapping, after the callback's ``setup``, each sampler's ``__call__`` and
each metric's ``update`` (feature extraction for the Frechet metric) and ``compute`` (the distance);
"other" is the rest of ``evaluate`` (pictures, logging). The counters
``FrechetDistance.reference_stats_computed`` / ``reference_stats_loaded`` are read after every
evaluation. The first fit starts with an empty cache (RESTART_LIGHTNING_CACHE = a fresh temporary
folder): statistics computed once in setup; the second fit (a new callback, as a new run) loads them.
Achieved FLOP/s of sampling (network FLOPs per evaluation x NFE x samples, all samplers) and of the
features (Inception's FLOPs per image x samples), against the CPU's measured float32 matmul peak (_flops.py).
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections import defaultdict

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from _common import instantiate, machine_info, markdown_table, set_threads, toy_config, write_result
from _flops import count_flops, evaluation_flops, flops_columns, peak_flops, peak_lines
from torch import nn

from restart_lightning.callbacks import SamplerEvaluation
from restart_lightning.data.digits import DigitsDataModule
from restart_lightning.data.toy_datamodule import ToyDataModule
from restart_lightning.evaluation.specs import NamedSampler
from restart_lightning.module import DiffusionModule
from restart_lightning.networks.unet import UNet


class InceptionStandIn(nn.Module):
    """Inception-v3 (torchvision, random weights) on images in [-1, 1]: resize to 299, RGB, 2048-d pool."""

    num_features = 2048

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
        net.fc = nn.Identity()
        self.net = net.eval()

    def forward(self, x):
        x = F.interpolate(x.float().expand(-1, 3, -1, -1), size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x)


class TimedSampler:
    """Delegates to a sampler and adds the wall time of each call to ``clock[key]``."""

    def __init__(self, sampler, clock: dict, key: str) -> None:
        self._sampler, self._clock, self._key = sampler, clock, key

    def __getattr__(self, name):
        return getattr(self._sampler, name)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._sampler(*args, **kwargs)
        finally:
            self._clock[self._key] += time.perf_counter() - started


def _timed(fn, clock: dict, key: str):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[key] += time.perf_counter() - started
    return wrapper


class SetupTimedEvaluation(SamplerEvaluation):
    """The real callback; only the wall time of its ``setup`` (metrics + reference statistics) is recorded."""

    setup_seconds = 0.0

    def setup(self, trainer, pl_module, stage) -> None:
        started = time.perf_counter()
        super().setup(trainer, pl_module, stage)
        self.setup_seconds += time.perf_counter() - started


class Probe(pl.Callback):
    """Placed after SamplerEvaluation: wraps its samplers and metrics, records each evaluation."""

    def __init__(self, evaluation: SamplerEvaluation, feature_flops_per_image: int = 0) -> None:
        self.evaluation, self.clock, self.records = evaluation, defaultdict(float), []
        self.metrics_id = None
        self.feature_flops = feature_flops_per_image * evaluation.num_samples * len(evaluation.samplers)
        self.sampling_flops = 0

    def setup(self, trainer, pl_module, stage) -> None:
        ev = self.evaluation
        self.metrics_id = id(ev.metrics)
        shape = tuple(trainer.datamodule.data_shape)
        per_evaluation = evaluation_flops(pl_module.model, shape, 1)
        self.sampling_flops = sum(per_evaluation * n.sampler.plan(pl_module.model).nfe * ev.num_samples
                                  for n in ev.samplers)
        frechet = ev.metrics["fid" if "fid" in ev.metrics else "frechet"]
        self.after_setup = (ev.setup_seconds, frechet.reference_stats_computed, frechet.reference_stats_loaded)
        ev.samplers = [NamedSampler(n.label, TimedSampler(n.sampler, self.clock, "sampling"))
                       if not isinstance(n.sampler, TimedSampler) else n for n in ev.samplers]
        for name, metric in ev.metrics.items():
            frechet = name in ("fid", "frechet")
            metric.update = _timed(metric.update, self.clock, "features + moments" if frechet else "other metrics")
            metric.compute = _timed(metric.compute, self.clock, "Frechet distance" if frechet else "other metrics")
        # The suite runs each feature extractor once per batch, before the metrics see the features.
        for extractor in getattr(ev.metrics, "extractors", {}).values():
            extractor.forward = _timed(extractor.forward, self.clock, "features + moments")
        ev.evaluate = _timed(ev.evaluate, self.clock, "total")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self.clock.get("total", 0.0) == 0.0:
            return
        frechet = self.evaluation.metrics["fid" if "fid" in self.evaluation.metrics else "frechet"]
        self.records.append({
            "parts": dict(self.clock),
            "computed": frechet.reference_stats_computed,
            "loaded": frechet.reference_stats_loaded,
            "same_metrics_object": id(self.evaluation.metrics) == self.metrics_id,
        })
        self.clock.clear()


def fit(make_module, make_data, evaluation: SetupTimedEvaluation, steps_per_epoch: int, epochs: int, tmp: str,
        feature_flops_per_image: int = 0) -> Probe:
    probe = Probe(evaluation, feature_flops_per_image)
    trainer = pl.Trainer(
        max_steps=steps_per_epoch * epochs, limit_train_batches=steps_per_epoch, limit_val_batches=1,
        num_sanity_val_steps=0, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
        devices=1, default_root_dir=tmp, logger=pl.loggers.TensorBoardLogger(tmp, name="eval"),
        callbacks=[evaluation, probe], enable_checkpointing=False,
    )
    trainer.fit(make_module(), datamodule=make_data())
    return probe


PARTS = ("sampling", "features + moments", "Frechet distance", "other metrics")


def report(title: str, runs: list[tuple[str, Probe]]) -> str:
    parts = [k for k in PARTS if any(k in r["parts"] for _, probe in runs for r in probe.records)]
    headers = ["run", "evaluation", *parts, "other (pictures, logging)", "total s",
               "reference computed", "reference loaded", "metrics built once", "sampling achieved",
               "sampling of CPU matmul peak", "features achieved", "features of CPU matmul peak"]
    peak, _ = peak_flops("cpu")
    rows = []
    for run, probe in runs:
        seconds, computed, loaded = probe.after_setup
        rows.append([run, f"callback setup: {seconds:.2f} s", *("" for _ in parts), "", "", computed, loaded, ""]
                    + [""] * 4)
        for i, r in enumerate(probe.records, 1):
            p = r["parts"]
            other = p.get("total", 0.0) - sum(p.get(k, 0.0) for k in parts)
            features = (flops_columns(probe.feature_flops, p["features + moments"], peak)
                        if probe.feature_flops and p.get("features + moments") else ["n/a (identity)", ""])
            rows.append([run, i, *(f"{p.get(k, 0.0):.2f}" for k in parts), f"{other:.2f}", f"{p['total']:.2f}",
                         r["computed"], r["loaded"], r["same_metrics_object"],
                         *flops_columns(probe.sampling_flops, p.get("sampling", 0.0), peak), *features])
    return (f"### {title}\n\nSeconds per part of each evaluation; counters are totals so far.\n\n"
            + markdown_table(headers, rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--toy-samples", type=int, default=4000)
    p.add_argument("--image-samples", type=int, default=64)
    p.add_argument("--image-reference", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    set_threads(args.threads)
    info, started = machine_info(), time.perf_counter()
    cfg = toy_config()
    toy_eval_args = cfg["trainer"]["callbacks"][0]["init_args"]
    model_args = {k: v for k, v in cfg["model"].items() if k != "net"}
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RESTART_LIGHTNING_CACHE"] = os.path.join(tmp, "cache")  # cold start: nothing cached yet
        toy_runs = []
        for run in ("fit 1 (empty cache)", "fit 2 (new callback)"):
            evaluation = SetupTimedEvaluation(samplers=toy_eval_args["samplers"], num_samples=args.toy_samples,
                                           batch_size=args.toy_samples, every_n_epochs=1, at_fit_end=False,
                                           metrics=["sliced_w2", "nll", "mode_coverage", "in_mode_fraction",
                                                    "frechet"])
            probe = fit(lambda: DiffusionModule(net=instantiate(cfg["model"]["net"]), **model_args),
                        lambda: ToyDataModule(**{**cfg["data"]["init_args"], "steps_per_epoch": 5}),
                        evaluation, steps_per_epoch=5, epochs=3 if run.startswith("fit 1") else 1, tmp=tmp)
            toy_runs.append((run, probe))
        sections.append(report(f"toy (configs/toy.yaml samplers, {args.toy_samples} samples each, identity features)",
                               toy_runs))
        image_runs = []
        inception_flops = count_flops(lambda: InceptionStandIn()(torch.zeros(1, 1, 8, 8)))
        for run in ("fit 1 (empty cache)", "fit 2 (new callback)"):
            evaluation = SetupTimedEvaluation(
                samplers={"heun": {"name": "heun", "num_steps": 18}}, num_samples=args.image_samples,
                batch_size=args.image_samples, every_n_epochs=1, at_fit_end=False,
                feature_extractor=InceptionStandIn(), num_reference_samples=args.image_reference, num_pictures=16)
            probe = fit(lambda: DiffusionModule(net=UNet(resolution=8, in_channels=1, base_channels=16,
                                                         channel_mult=(1, 2), num_blocks=1, attn_resolutions=(4,),
                                                         dropout=0.0), sigma_data=0.5),
                        lambda: DigitsDataModule(batch_size=64, use_labels=False),
                        evaluation, steps_per_epoch=2, epochs=2 if run.startswith("fit 1") else 1, tmp=tmp,
                        feature_flops_per_image=inception_flops)
            image_runs.append((run, probe))
        sections.append(report(
            f"images (digits 8x8, small U-Net, Heun 35 NFE, {args.image_samples} samples; Inception-v3 stand-in, "
            f"{args.image_reference} reference images)", image_runs))
    body = (
        "Reference statistics: in each first fit `reference computed` is 1 from the first evaluation on and never "
        "grows (they were computed in the callback's `setup`, before any evaluation) and the metrics object is the "
        "one built in setup; the second fit, a new callback as in a new run, loads them from the cache "
        "(`reference loaded` 1, `computed` 0).\n\n" + peak_lines("cpu") + "\n\n" + "\n\n".join(sections)
    )
    write_result("evaluation_cost", "Cost of a validation-time evaluation (CPU)", body, info,
                 time.perf_counter() - started)


if __name__ == "__main__":
    main()
