"""The discrete-time conversion against diffusers' own definitions of the schedule and the three predictions."""

import pytest
import torch

from restart_lightning.adapters.discrete import DiscreteVPPreconditioning
from restart_lightning.preconditioning import Denoiser

diffusers = pytest.importorskip("diffusers")


def ddpm(prediction_type="epsilon", beta_schedule="scaled_linear"):
    return diffusers.DDPMScheduler(beta_schedule=beta_schedule, beta_start=0.00085, beta_end=0.012,
                                   prediction_type=prediction_type)


def test_sigma_range_and_timesteps_are_those_of_diffusers_euler_scheduler():
    euler = diffusers.EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    pre = DiscreteVPPreconditioning(euler.alphas_cumprod)
    levels = euler.sigmas[:-1].flip(0).double()  # diffusers keeps sigma(t) for t = T-1..0, then 0
    assert torch.allclose(pre.sigmas, levels, rtol=1e-6)
    assert pre.sigma_min == pytest.approx(float(levels[0]), rel=1e-6)
    assert pre.sigma_max == pytest.approx(float(levels[-1]), rel=1e-6)
    # Every level maps to its own timestep; sigmas in between interpolate in log sigma as diffusers does.
    assert torch.allclose(pre.timestep(pre.sigmas), torch.arange(1000, dtype=torch.float64), atol=1e-6)
    sigmas = torch.logspace(-1.5, 1.1, 37, dtype=torch.float64)
    log_sigmas = euler.sigmas[:-1].flip(0).log().numpy()
    expected = torch.tensor([float(euler._sigma_to_t(s.numpy(), log_sigmas)) for s in sigmas], dtype=torch.float64)
    assert torch.allclose(pre.timestep(sigmas), expected, atol=1e-3)
    # Outside the range the timestep is clamped to the schedule's ends.
    assert pre.timestep(torch.tensor([1e-6, 1e6])).tolist() == [0.0, 999.0]


class Oracle(torch.nn.Module):
    """A 'network' that returns the exact target of its prediction type and records what it was given."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def forward(self, x_t, t, labels=None):
        self.seen = (x_t, t)
        return self.target


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_each_prediction_type_gives_the_clean_sample(prediction_type):
    """x_t and the targets from diffusers' add_noise / get_velocity: D(x0 + sigma eps, sigma) = x0."""
    scheduler = ddpm(prediction_type)
    generator = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, 8, 8, generator=generator), torch.randn(4, 3, 8, 8, generator=generator)
    t = torch.tensor([0, 17, 400, 999])
    x_t = scheduler.add_noise(x0, eps, t)
    target = {"epsilon": eps, "v_prediction": scheduler.get_velocity(x0, eps, t), "sample": x0}[prediction_type]
    pre = DiscreteVPPreconditioning(scheduler.alphas_cumprod, prediction_type)
    sigma = pre.sigmas[t].float()
    oracle = Oracle(target)
    denoised = Denoiser(oracle, pre)(x0 + sigma[:, None, None, None] * eps, sigma)
    torch.testing.assert_close(denoised, x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(oracle.seen[0], x_t, rtol=1e-4, atol=1e-5)  # the network's input is x_t
    assert oracle.seen[1].dtype == torch.float32
    torch.testing.assert_close(oracle.seen[1], t.float(), rtol=0, atol=1e-3)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_denoised_estimate_equals_diffusers_euler_step(pixel_folder, prediction_type):
    """With a real UNet at a fractional timestep: D equals the pred_original_sample of diffusers' Euler step."""
    from restart_lightning.adapters.diffusers_denoiser import DiffusersDenoiser

    unet = diffusers.UNet2DModel.from_pretrained(pixel_folder / "unet", use_safetensors=True).eval()
    euler = diffusers.EulerDiscreteScheduler(beta_start=1e-4, beta_end=0.02, prediction_type=prediction_type)
    euler.set_timesteps(sigmas=[3.7, 0.0])  # one step at a sigma between two levels
    t, sigma = euler.timesteps[0], euler.sigmas[0]
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * sigma
    with torch.no_grad():
        out = unet(euler.scale_model_input(x, t), t).sample
        expected = euler.step(out, t, x).pred_original_sample
        denoised = DiffusersDenoiser(unet, euler.alphas_cumprod, prediction_type)(x, sigma.expand(2))
    torch.testing.assert_close(denoised, expected, rtol=1e-5, atol=1e-5)


def test_bad_schedules_and_prediction_types_are_refused():
    alphas = ddpm().alphas_cumprod
    with pytest.raises(ValueError, match="prediction_type: unknown value 'x0'.*epsilon, v_prediction, sample"):
        DiscreteVPPreconditioning(alphas, "x0")
    with pytest.raises(ValueError, match="decrease strictly"):
        DiscreteVPPreconditioning(alphas.flip(0))
    with pytest.raises(ValueError, match="sigma > 0"):
        DiscreteVPPreconditioning(torch.cat([torch.ones(1), alphas]))


def test_zero_terminal_snr_gets_a_finite_top_level():
    zero_snr = diffusers.DDPMScheduler(rescale_betas_zero_snr=True).alphas_cumprod
    assert float(zero_snr[-1]) == 0.0
    pre = DiscreteVPPreconditioning(zero_snr)
    alphabar = min(2.0**-24, float(zero_snr[-2].double()) / 2)
    assert pre.sigma_max == pytest.approx(((1 - alphabar) / alphabar) ** 0.5, rel=1e-9)
    assert pre.sigma_max > float(pre.sigmas[-2])
    assert float(pre.timestep(torch.tensor(pre.sigma_max))) == pytest.approx(999.0)
