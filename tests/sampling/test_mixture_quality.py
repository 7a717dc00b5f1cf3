"""Every sampler approaches a Gaussian mixture as its NFE grows (exact denoiser, exact density)."""

import pytest

from restart_lightning.sampling import NoiseSource, build_sampler

from .toys import Mixture, sliced_wasserstein

N = 1500
MIXTURE = Mixture(size=3, spacing=1.0, std=0.05)
REFERENCE = MIXTURE.sample(N)
TRUE_LOGP = float(MIXTURE.log_prob(REFERENCE).mean())
LATENTS = NoiseSource(range(N)).randn((2,))

CASES = {  # name: (options at low NFE, options at high NFE)
    "euler": ({"num_steps": 8}, {"num_steps": 64}),
    "heun": ({"num_steps": 8}, {"num_steps": 32}),
    "dpmpp_2m": ({"num_steps": 8}, {"num_steps": 32}),
    "edm_sde": ({"num_steps": 8, "S_churn": 4.0}, {"num_steps": 32, "S_churn": 16.0}),
    "euler_maruyama": ({"num_steps": 16}, {"num_steps": 64}),
    "euler_ancestral": ({"num_steps": 8}, {"num_steps": 64}),
    "restart": (
        {"num_steps": 6, "restart_intervals": [[3, 1, 0.06, 0.3]]},
        {"num_steps": 16, "restart_intervals": [[3, 4, 0.06, 0.3]]},
    ),
}


def _quality(name, options):
    result = build_sampler(name, **options)(MIXTURE, LATENTS)
    logp_gap = abs(float(MIXTURE.log_prob(result.samples).mean()) - TRUE_LOGP)
    return result.nfe, logp_gap, sliced_wasserstein(result.samples, REFERENCE)


@pytest.mark.parametrize("name", list(CASES))
def test_quality_improves_with_nfe(name):
    low, high = (_quality(name, options) for options in CASES[name])
    assert high[0] > low[0]
    assert high[1] < low[1] and high[1] < 0.3, (low, high)  # mean log-density approaches the data's
    assert high[2] < low[2] and high[2] < 0.05, (low, high)  # sliced Wasserstein; 0.03-0.04 between two data draws
