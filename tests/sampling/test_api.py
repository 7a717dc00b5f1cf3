"""Registry, presets, plans before runs, the denoiser contract and the non-finite check."""

import math
from pathlib import Path

import pytest
import torch
import yaml

from restart_lightning.sampling import (
    SAMPLERS,
    Noise,
    Plan,
    Restart,
    Step,
    build_sampler,
    load_sampler_preset,
    sampler_options,
)

from .toys import Counting, GaussianData, Mixture

NFE = {  # name: NFE formula in N for the sampler's defaults (Restart: with OPTIONS' one interval)
    "restart": lambda n: 2 * n - 1 + 2 * 1 * (3 - 1),
    "heun": lambda n: 2 * n - 1,
    "edm_sde": lambda n: 2 * n - 1,
    "euler": lambda n: n,
    "dpmpp_2m": lambda n: n,
    "euler_maruyama": lambda n: n,
    "euler_ancestral": lambda n: n,
}


OPTIONS = {"restart": {"restart_intervals": [[3, 1, 0.3, 1.0]]}}  # Restart needs an interval


def test_registry_names():
    assert set(SAMPLERS) == set(NFE)


@pytest.mark.parametrize("name", list(NFE))
def test_plan_nfe_equals_counted_calls_and_formula(name):
    denoiser = Counting(Mixture(), dtype=torch.float64)
    sampler = build_sampler(name, num_steps=7, **OPTIONS.get(name, {}))
    plan = sampler.plan(denoiser)
    assert denoiser.calls == 0  # planned without the network
    result = sampler(denoiser, shape=(2,), seeds=range(3))
    assert plan.nfe == result.nfe == denoiser.calls == NFE[name](7)
    assert build_sampler(**sampler.to_config()) == sampler


def test_unknown_name_and_option():
    with pytest.raises(ValueError, match="unknown sampler 'rk45'; valid names: restart, heun, euler, dpmpp_2m"):
        build_sampler("rk45")
    with pytest.raises(ValueError, match="sampler 'heun': unknown option 'S_churn'; valid options: num_steps, sche"):
        build_sampler("heun", num_steps=10, S_churn=1.0)
    assert sampler_options("edm_sde")[:5] == ["num_steps", "S_churn", "S_min", "S_max", "S_noise"]
    with pytest.raises(ValueError, match="num_steps = 0 is invalid; allowed: an int in \\[1, 100000\\]"):
        build_sampler("euler", num_steps=0)
    with pytest.raises(ValueError, match="schedule = 'cosine' is invalid"):
        build_sampler("euler", schedule="cosine")


def test_load_preset(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"name": "edm_sde", "num_steps": 12, "S_churn": 40.0, "S_max": math.inf}))
    sampler = load_sampler_preset(path)
    assert sampler.S_churn == 40.0 and sampler.S_max == math.inf and sampler.num_steps == 12
    (tmp_path / "bad.yaml").write_text("num_steps: 3\n")
    with pytest.raises(ValueError, match="'name' key"):
        load_sampler_preset(tmp_path / "bad.yaml")
    for preset in (Path(__file__).parents[2] / "configs" / "samplers").glob("*.yaml"):
        assert load_sampler_preset(preset).plan().nfe > 0


def test_plan_table_and_fields():
    plan = Restart(num_steps=6, restart_intervals=[[3, 1, 0.1, 0.5]]).plan(sigma_min=0.01, sigma_max=50, nfe_per_call=2)
    assert isinstance(plan, Plan) and plan.sampler == "restart"
    assert plan.sigma_start == 50 and plan.calls == 11 + 4 and plan.nfe == 30
    assert all(isinstance(op, (Step, Noise)) for op in plan.ops)
    assert len(plan.noise_injections) == 1
    text = str(plan)
    assert text.splitlines()[0].startswith("restart plan: 30 NFE (15 denoiser calls x 2)")
    assert "restart[0] round 1/1" in text and len(text.splitlines()) == 2 + len(plan.ops)


def test_denoiser_contract_dtype_sigma_shape_labels_and_range():
    labels = torch.tensor([3, 1, 4])
    data = GaussianData()
    denoiser = Counting(data, sigma_min=0.01, sigma_max=20.0)
    result = build_sampler("heun", num_steps=4)(denoiser, torch.randn(3, 2), labels=labels)
    assert result.samples.dtype == torch.float64
    assert all(seen == (torch.float32, torch.float32, (3,), labels) for seen in denoiser.seen)
    assert all(seen[3] is labels for seen in denoiser.seen)
    assert result.plan.sigma_start == 20.0 and result.plan.ops[-1].sigma_from == 0.01
    build_sampler("euler", num_steps=2)(denoiser, torch.randn(3, 2), model_dtype=torch.bfloat16)
    assert denoiser.seen[-1][:2] == (torch.bfloat16, torch.bfloat16)

    class Net(torch.nn.Module):  # an nn.Module denoiser runs in its parameters' dtype
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

        def forward(self, x, sigma):
            assert x.dtype == sigma.dtype == torch.float64
            return data(x, sigma) * self.scale

    result = build_sampler("euler", num_steps=2)(Net(), torch.randn(3, 2))
    assert result.nfe == 2 and not result.samples.requires_grad  # sampling runs without autograd


def test_plain_function_denoiser():
    def D(x, sigma):
        return x * 0.25 / (0.25 + sigma[:, None] ** 2)

    result = build_sampler("dpmpp_2m", num_steps=20)(D, shape=(2,), seeds=range(8))
    assert result.samples.shape == (8, 2) and result.nfe == 20


def test_non_finite_samples_raise_naming_the_sigma():
    def D(x, sigma):
        return torch.where(sigma[:, None] < 1.0, torch.full_like(x, math.nan), x * 0.5)

    with pytest.raises(FloatingPointError, match=r"non-finite at sigma = 0\.\d+"):
        build_sampler("heun", num_steps=10)(D, torch.randn(2, 2))


def test_bad_call_arguments():
    sampler = build_sampler("euler", num_steps=2)
    with pytest.raises(ValueError, match="per-sample shape together with seeds"):
        sampler(GaussianData(), shape=(2,))
    with pytest.raises(ValueError, match="got 2 seeds for a batch of 3"):
        sampler(GaussianData(), torch.randn(3, 2), seeds=[0, 1])


def test_lightning_cli_style_parsing():
    jsonargparse = pytest.importorskip("jsonargparse")
    from restart_lightning.sampling import Sampler

    parser = jsonargparse.ArgumentParser()
    parser.add_argument("--sampler", type=Sampler)
    config = parser.parse_args(
        ["--sampler", "Restart", "--sampler.num_steps", "18", "--sampler.restart_intervals", "[[3, 2, 0.14, 0.3]]"]
    )
    sampler = parser.instantiate(config).sampler
    assert sampler == Restart(num_steps=18, restart_intervals=[[3, 2, 0.14, 0.3]]) and sampler.plan().nfe == 43


def test_readme_sampler_example_runs(capsys):
    text = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = [b.split("```")[0] for b in text.split("```python\n")[1:]]
    code = next(b for b in blocks if "from restart_lightning.sampling import Restart" in b)
    exec(compile(code, "README.md", "exec"), {})
    assert "torch.Size([1000, 2]) 43" in capsys.readouterr().out
