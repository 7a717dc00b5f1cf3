"""Our samplers on adapted diffusers models equal diffusers' own schedulers and pipeline, step for step.

Same sigmas (diffusers' Karras schedule, ``use_karras_sigmas``, and our EDM rho = 7 schedule on the
model's sigma range are the same formula computed independently), same initial noise, no noise
afterwards: the results must agree to float32 tolerance.
"""

import pytest
import torch

from restart_lightning.adapters.diffusers_denoiser import denoiser_from_components
from restart_lightning.adapters.diffusers_loading import load_components
from restart_lightning.sampling import Euler, Heun

diffusers = pytest.importorskip("diffusers")

STEPS = 6


def diffusers_loop(scheduler, unet, latents, **unet_kwargs):
    """diffusers' sampling loop (as its pipelines run it) with ``scheduler``."""
    scheduler.set_timesteps(STEPS)
    x = latents * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            out = unet(scheduler.scale_model_input(x, t), t, **unet_kwargs).sample
            x = scheduler.step(out, t, x).prev_sample
    return x


def ours(sampler_class, denoiser, latents, labels=None):
    sampler = sampler_class(num_steps=STEPS, sigma_min=denoiser.sigma_min, sigma_max=denoiser.sigma_max)
    return sampler(denoiser, latents, labels=labels)


def assert_same(result, expected):
    scale = float(expected.abs().max())
    torch.testing.assert_close(result.float(), expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("scheduler_name, sampler_class, nfe", [
    ("EulerDiscreteScheduler", Euler, STEPS), ("HeunDiscreteScheduler", Heun, 2 * STEPS - 1)])
@pytest.mark.parametrize("folder_name", ["pixel_folder", "class_folder"])
def test_sampler_equals_diffusers_scheduler_loop(request, folder_name, scheduler_name, sampler_class, nfe):
    folder = request.getfixturevalue(folder_name)
    components = load_components(str(folder))
    conditional = folder_name == "class_folder"
    denoiser = denoiser_from_components(components, null_class_label=3 if conditional else None)
    latents = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 1, 0]) if conditional else None
    scheduler = getattr(diffusers, scheduler_name).from_pretrained(folder, subfolder="scheduler",
                                                                   use_karras_sigmas=True)
    expected = diffusers_loop(scheduler, components.unet, latents,
                              **({"class_labels": labels} if conditional else {}))
    result = ours(sampler_class, denoiser, latents, labels)
    assert result.nfe == nfe
    assert_same(result.samples, expected)


@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample"])
def test_heun_equals_diffusers_for_v_and_sample_prediction(pixel_folder, prediction_type):
    components = load_components(str(pixel_folder))
    denoiser = denoiser_from_components(components, prediction_type=prediction_type)
    latents = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    scheduler = diffusers.HeunDiscreteScheduler.from_pretrained(
        pixel_folder, subfolder="scheduler", use_karras_sigmas=True, prediction_type=prediction_type)
    assert_same(ours(Heun, denoiser, latents).samples, diffusers_loop(scheduler, components.unet, latents))


@pytest.mark.parametrize("guidance_scale", [1.0, 2.0])
def test_text_to_image_equals_the_stable_diffusion_pipeline(text_folder, guidance_scale):
    """Prompts, the empty prompt's guidance (2 NFE per step), the latent sampler and the VAE decode:
    our Euler through generate_batches equals StableDiffusionPipeline with the Euler scheduler."""
    from restart_lightning.adapters.conditioning import tokenize_prompts
    from restart_lightning.evaluation.generation import generate_batches
    from restart_lightning.guidance import GuidedDenoiser
    from restart_lightning.sampling import NoiseSource

    components = load_components(str(text_folder))
    denoiser = denoiser_from_components(components)
    prompts = ["a red cat", "a dog on the moon", "tree"]
    denoiser.net.conditioning.set_prompts(*tokenize_prompts(components.tokenizer, prompts))
    guided = GuidedDenoiser(denoiser, guidance_scale)
    sampler = Euler(num_steps=STEPS, sigma_min=denoiser.sigma_min, sigma_max=denoiser.sigma_max)
    assert sampler.plan(guided).nfe == STEPS * (2 if guidance_scale != 1 else 1)
    seeds = [5, 6, 7, 8]
    [batch] = generate_batches(sampler, guided, seeds, shape=(3, 8, 8), batch_size=4, device="cpu", num_classes=3)
    scheduler = diffusers.EulerDiscreteScheduler.from_pretrained(text_folder, subfolder="scheduler",
                                                                 use_karras_sigmas=True)
    pipeline = diffusers.StableDiffusionPipeline(
        vae=components.vae, text_encoder=components.text_encoder, tokenizer=components.tokenizer,
        unet=components.unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    images = pipeline([prompts[i] for i in batch.labels.tolist()], height=8, width=8, num_inference_steps=STEPS,
                      guidance_scale=guidance_scale, latents=NoiseSource(seeds).randn((4, 4, 4)).float(),
                      output_type="pt").images
    assert batch.samples.shape == (4, 3, 8, 8)
    torch.testing.assert_close((batch.samples + 1) / 2, images, rtol=1e-4, atol=1e-4)
