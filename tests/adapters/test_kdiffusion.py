"""KDiffusionDenoiser / KDiffusionModule: a model in k-diffusion's convention, against its closed form."""

import numpy as np
import pytest
import torch
import yaml

from restart_lightning.adapters import ClassConditioning, KDiffusionDenoiser
from restart_lightning.sampling import Heun, NoiseSource
from restart_lightning.sampling.noise import draw_labels
from tests.adapters.kdiffusion_models import GaussianClassDenoiser
from tests.reliability.helpers import run_cli

save_file = pytest.importorskip("safetensors.torch").save_file

MEANS = torch.tensor([-0.5, 0.0, 0.4])[:, None, None, None].expand(3, 1, 4, 4).contiguous()


def test_sigma_range_conditioning_and_sigma_are_passed_through():
    model = GaussianClassDenoiser()
    model.means.data.copy_(MEANS)
    denoiser = KDiffusionDenoiser(model, conditioning=ClassConditioning(3, "class_labels", null_label=1))
    assert (denoiser.sigma_min, denoiser.sigma_max) == (pytest.approx(0.01), 50.0)  # the model's own attributes
    assert KDiffusionDenoiser(model, sigma_max=10.0).sigma_max == 10.0
    x, labels = torch.randn(4, 1, 4, 4), torch.tensor([0, 2, -1, 2])
    out = denoiser(x, torch.tensor(0.7), labels)  # a scalar sigma serves the whole batch
    mean = MEANS[torch.tensor([0, 2, 1, 2])]
    torch.testing.assert_close(out, mean + (x - mean) * 0.25 / (0.25 + 0.49))
    with pytest.raises(ValueError, match="takes no labels"):
        KDiffusionDenoiser(model)(x, torch.ones(4), labels)


def test_predict_through_the_cli_follows_the_exact_probability_flow(tmp_path):
    """Weights from safetensors, per-seed class labels: Heun's samples are the exact PF-ODE solution
    mean_c + (x_T - mean_c) std / sqrt(std^2 + sigma_T^2) (Gaussian data) to the solver's accuracy."""
    save_file({"means": MEANS}, str(tmp_path / "means.safetensors"))
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "logger": {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            "init_args": {"save_dir": str(tmp_path / "logs"), "name": "kd"}}},
        "model": {"class_path": "restart_lightning.adapters.KDiffusionModule", "init_args": {
            "model": {"class_path": "tests.adapters.kdiffusion_models.GaussianClassDenoiser"},
            "weights": str(tmp_path / "means.safetensors"), "condition_key": "class_labels", "num_classes": 3,
            "predict_sampler": {"name": "heun", "num_steps": 40}}},
        "data": {"class_path": "restart_lightning.data.EvaluationDataModule", "init_args": {
            "data_shape": [1, 4, 4], "num_classes": 3, "num_predict_samples": 8, "batch_size": 5}},
    }
    (tmp_path / "kd.yaml").write_text(yaml.safe_dump(config))
    code, out, err = run_cli(["predict", "--config", str(tmp_path / "kd.yaml")])
    assert code == 0, err[-2000:]
    samples = np.load(tmp_path / "logs" / "kd" / "version_0" / "predict" / "samples.npz")["samples"]
    seeds = list(range(8))
    mean = MEANS[draw_labels(seeds, 3, None, "cpu")]
    sigma_max = Heun(num_steps=40).sigmas(GaussianClassDenoiser())[0].item()  # 50, the model's sigma_max
    exact = mean + (NoiseSource(seeds).randn((1, 4, 4)).float() * sigma_max - mean) * 0.5 / (0.25 + sigma_max**2) ** 0.5
    expected = ((exact.clamp(-1, 1) + 1) * 127.5).round()  # samples.npz holds images as uint8
    assert np.abs(samples.astype(float) - expected.numpy()).max() <= 1


def test_weights_must_fit_and_be_readable_without_code(tmp_path):
    from restart_lightning.adapters.kdiffusion_module import load_weights

    save_file({"other": torch.zeros(2)}, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(ValueError, match="model.weights: .* does not fit the model"):
        load_weights(GaussianClassDenoiser(), tmp_path / "wrong.safetensors")
    torch.save({"means": MEANS, "note": object()}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="not a weights file readable without running code"):
        load_weights(GaussianClassDenoiser(), tmp_path / "pickled.pt")
    torch.save({"state_dict": {"means": MEANS}}, tmp_path / "plain.ckpt")
    model = GaussianClassDenoiser()
    load_weights(model, tmp_path / "plain.ckpt")
    assert torch.equal(model.means.data, MEANS)
