"""Sampling time per NFE of an adapted diffusers model against diffusers' own loop or pipeline, same scheduler.

For a diffusers model folder (``--model``): our Euler and Heun on ``DiffusersModule``'s denoiser through
``generate_batches`` (the evaluation's loop: per-sample noise, labels, VAE decoding) against diffusers'
``EulerDiscreteScheduler`` / ``HeunDiscreteScheduler`` with ``use_karras_sigmas`` at the same number of
steps, hence the same sigmas and NFE, from the same initial noise:
- pixel models: the scheduler loop every diffusers pipeline runs (scale_model_input, unet, step);
- text-to-image latent models: ``StableDiffusionPipeline`` with the scheduler, guidance ``--guidance``
  (2 NFE per step on both sides), the prompts of ``--prompts`` and decoding by the VAE on both sides.
Timed interleaved (ours, diffusers, ours, ...) after a warm-up, CUDA-synchronised; the table gives
milliseconds per NFE and image, the paired ratio ours / diffusers, and the largest difference of the
outputs relative to their largest value (they must agree to float tolerance).
Writes benchmarks/results/gpu_diffusers.md.

``--smoke`` writes tiny random models to a temporary folder and runs everything on the CPU for a few
steps: it checks this script before GPU time is spent on it, not speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import REPO, machine_info, markdown_table, median, paired_ratios, time_interleaved, write_result

from restart_lightning.adapters import DiffusersModule, PromptConditioning
from restart_lightning.adapters.conditioning import tokenize_prompts
from restart_lightning.evaluation.generation import generate_batches
from restart_lightning.evaluation.labels import draw_labels
from restart_lightning.guidance import GuidedDenoiser
from restart_lightning.sampling import Euler, Heun, NoiseSource

PAIRS = {"euler": (Euler, "EulerDiscreteScheduler"), "heun": (Heun, "HeunDiscreteScheduler")}
DEFAULT_PROMPTS = ["a photograph of an astronaut riding a horse", "a bowl of fruit on a wooden table",
                   "a watercolor painting of a lighthouse at dusk", "a red sports car in the rain"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Setup:
    """The model on ``device``, its data shape, and a batch's seeds, latents and prompts."""

    def __init__(self, args, device: torch.device) -> None:
        self.module = DiffusersModule(args.model, torch_dtype=args.dtype).to(device)
        self.denoiser, self.device = self.module.denoiser, device
        self.unet = self.denoiser.net.unet
        self.text = isinstance(self.denoiser.net.conditioning, PromptConditioning)
        latent = self.denoiser.latent_space
        size = args.size or int(self.unet.config.sample_size) * (latent.downscale if latent is not None else 1)
        channels = latent.image_channels if latent is not None else int(self.unet.config.in_channels)
        self.data_shape = (channels, size, size)
        self.state_shape = latent.shape(self.data_shape) if latent is not None else self.data_shape
        self.seeds = list(range(args.batch))
        self.latents = NoiseSource(self.seeds, device).randn(self.state_shape).to(self.unet.dtype)
        prompts = Path(args.prompts).read_text().splitlines() if args.prompts else DEFAULT_PROMPTS
        self.prompts = [p for p in prompts if p.strip()]
        if self.text:
            self.denoiser.net.conditioning.set_prompts(*tokenize_prompts(self.module.tokenizer, self.prompts))
        if self.denoiser.net.conditioning is not None and not self.text:
            raise SystemExit("gpu_diffusers.py: class-conditional models are not benchmarked; use a pixel or "
                             "text-to-image model")
        self.guided = GuidedDenoiser(self.denoiser, args.guidance) if self.text else self.denoiser
        self.labels = draw_labels(self.seeds, len(self.prompts), None, device) if self.text else None

    def ours(self, sampler) -> torch.Tensor:
        [batch] = generate_batches(sampler, self.guided, self.seeds, shape=self.data_shape,
                                   batch_size=len(self.seeds), device=self.device,
                                   num_classes=len(self.prompts) if self.text else 0)
        return batch.samples

    def theirs(self, scheduler, steps: int, guidance: float) -> torch.Tensor:
        if self.text:
            return self._pipeline(scheduler, steps, guidance)
        scheduler.set_timesteps(steps, device=self.device)
        x = self.latents * scheduler.init_noise_sigma
        with torch.no_grad():
            for t in scheduler.timesteps:
                out = self.unet(scheduler.scale_model_input(x, t), t).sample
                x = scheduler.step(out, t, x).prev_sample
        return x.float()

    def _pipeline(self, scheduler, steps: int, guidance: float) -> torch.Tensor:
        import diffusers

        components = self.module.denoiser
        pipeline = diffusers.StableDiffusionPipeline(
            vae=components.latent_space.vae, text_encoder=components.net.conditioning.text_encoder,
            tokenizer=self.module.tokenizer, unet=self.unet, scheduler=scheduler, safety_checker=None,
            feature_extractor=None, requires_safety_checker=False)
        pipeline.set_progress_bar_config(disable=True)
        prompts = [self.prompts[i] for i in self.labels.tolist()]
        images = pipeline(prompts, height=self.data_shape[1], width=self.data_shape[2], num_inference_steps=steps,
                          guidance_scale=guidance, latents=self.latents, output_type="pt").images
        return images.float() * 2 - 1


def rows_for(setup: Setup, args, steps: int) -> list[list]:
    import diffusers

    rows = []
    for name, (sampler_class, scheduler_name) in PAIRS.items():
        sampler = sampler_class(num_steps=steps, sigma_min=setup.denoiser.sigma_min,
                                sigma_max=setup.denoiser.sigma_max)
        scheduler = getattr(diffusers, scheduler_name).from_pretrained(
            args.model, subfolder="scheduler" if (Path(args.model) / "scheduler").is_dir() else None,
            use_karras_sigmas=True, timestep_spacing="linspace")
        rows.append([name, *measure(setup, args, sampler, scheduler, steps)])
    return rows


def measure(setup: Setup, args, sampler, scheduler, steps: int) -> list:
    """[steps, NFE, batch, ours ms/NFE/image, diffusers ms/NFE/image, ratio, relative difference]."""
    nfe = sampler.plan(setup.guided).nfe
    results = {}

    def ours():
        results["ours"] = setup.ours(sampler)
        synchronize(setup.device)

    def theirs():
        results["diffusers"] = setup.theirs(scheduler, steps, args.guidance)
        synchronize(setup.device)

    times = time_interleaved({"ours": ours, "diffusers": theirs}, args.repeats, warmup=1)
    ratio = paired_ratios(times, "diffusers")["ours"]
    per = {k: 1000 * median(v) / (nfe * len(setup.seeds)) for k, v in times.items()}
    reference = results["diffusers"]
    difference = float((results["ours"].to(reference) - reference).abs().max() / reference.abs().max())
    print(f"{sampler.name} {steps} steps: {per['ours']:.3f} vs {per['diffusers']:.3f} ms/NFE/image "
          f"(ratio {ratio:.3f}), relative difference {difference:.2e}", flush=True)
    return [steps, nfe, len(setup.seeds), per["ours"], per["diffusers"], ratio, difference]


def run(args) -> str:
    device = torch.device("cpu" if args.smoke else "cuda")
    setup = Setup(args, device)
    rows = [row for steps in args.steps for row in rows_for(setup, args, steps)]
    kind = (f"text-to-image latent model, guidance {args.guidance} (2 NFE per step)" if setup.text
            else "pixel model")
    head = (f"Model: `{args.model}` ({kind}, {args.dtype}), samples of shape {list(setup.data_shape)} "
            f"(state {list(setup.state_shape)}), batch {args.batch}, median of {args.repeats} interleaved repeats.")
    table = markdown_table(["sampler", "steps", "NFE", "batch", "ours ms/NFE/image", "diffusers ms/NFE/image",
                            "ratio ours/diffusers", "max abs difference / max abs value"], rows)
    return head + "\n\n" + table


def write_smoke_models(folder: Path) -> tuple[Path, Path]:
    import sys

    sys.path.insert(0, str(REPO))
    from tests.adapters import tiny_diffusers

    return tiny_diffusers.pixel_model(folder / "pixel"), tiny_diffusers.text_to_image_model(folder / "text")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a local diffusers model folder (pixel or text-to-image)")
    parser.add_argument("--prompts", help="text file, one prompt per line (text-to-image models)")
    parser.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")], default=[10, 25, 50])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float16")
    parser.add_argument("--size", type=int, default=None, help="image height and width (default: the model's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny random models on the CPU: checks the script")
    args = parser.parse_args(argv)
    info, started = machine_info(), time.perf_counter()
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            sections = []
            (Path(tmp) / "prompts.txt").write_text("a cat\na dog\n")  # the tiny tokenizer keeps 10 tokens
            for folder in write_smoke_models(Path(tmp)):
                smoke = argparse.Namespace(**{**vars(args), "model": str(folder), "steps": [3], "batch": 2,
                                              "dtype": "float32", "repeats": 1, "guidance": 2.0,
                                              "prompts": str(Path(tmp) / "prompts.txt")})
                sections.append(run(smoke))
        text = "\n\n".join(sections)
        print(text)
        return text
    if args.model is None:
        raise SystemExit("gpu_diffusers.py: give --model <diffusers folder> (or --smoke)")
    if not torch.cuda.is_available():
        raise SystemExit("gpu_diffusers.py needs a CUDA GPU (or --smoke)")
    text = run(args)
    write_result("gpu_diffusers", "Adapted diffusers models against diffusers' own sampling, per NFE, on a GPU",
                 text, info, time.perf_counter() - started)
    return text


if __name__ == "__main__":
    main()
