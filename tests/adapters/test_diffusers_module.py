"""DiffusersModule through the command line: test and predict agree, fit and bad inputs are refused in one line."""

import json
import shutil

import numpy as np
import pytest
import torch

from tests.adapters.helpers import evaluation_config, write_reference_stats
from tests.reliability.helpers import error_lines, run_cli

diffusers = pytest.importorskip("diffusers")

HEUN = {"heun": {"name": "heun", "num_steps": 3}}


def class_config(tmp_path, class_folder, **model_args):
    data = {"data_shape": [3, 8, 8], "num_classes": 3, "num_predict_samples": 6, "batch_size": 4,
            "reference_stats": str(write_reference_stats(tmp_path / "ref.npz", 3 * 8 * 8))}
    return evaluation_config(tmp_path, class_folder, data, samplers=HEUN, guidance_scale=2.0, num_samples=6,
                             batch_size=3, model_args={"null_class_label": 3, "predict_guidance_scale": 2.0,
                                                       "predict_sampler": HEUN["heun"], **model_args})


def test_predict_draws_the_samples_test_scores(tmp_path, class_folder):
    """Same seeds, sampler, guidance and per-seed class labels: predict's samples are test's."""
    config = class_config(tmp_path, class_folder)
    code, out, err = run_cli(["test", "--config", str(config)])
    assert code == 0, err[-2000:]
    assert "| heun | heun | 10 | 6 |" in out  # Heun with 3 steps: 5 calls, 2 NFE each under guidance
    code, out, err = run_cli(["predict", "--config", str(config)])
    assert code == 0, err[-2000:]
    runs = tmp_path / "logs" / "adapted"
    tested = np.load(runs / "version_0" / "samples" / "heun" / "samples.npz")
    predicted = np.load(runs / "version_1" / "predict" / "samples.npz")
    assert list(predicted["seeds"]) == list(range(6)) and predicted["samples"].shape == (6, 3, 8, 8)
    assert np.abs(tested["samples"].astype(int) - predicted["samples"].astype(int)).max() <= 1


def test_fit_is_refused_before_anything_loads_or_is_written(tmp_path, class_folder):
    code, _, err = run_cli(["fit", "--config", str(class_config(tmp_path, class_folder))])
    assert code == 2
    assert error_lines(err) == ["error: model: restart_lightning.adapters.DiffusersModule evaluates a model trained "
                                "elsewhere and cannot be trained by fit; use test or predict (or tune)"]
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("change, words", [
    ({"model_args": {"path": "/no/such/model"}}, ["model.path", "no folder at '/no/such/model'", "model.download"]),
    ({"model_args": {"null_class_label": None}}, ["model.null_class_label", "classifier-free guidance"]),
    ({"data": {"num_classes": 0}}, ["data.num_classes", "class-conditional", "1..4"]),
    ({"data": {"data_shape": [1, 8, 8]}}, ["data.data_shape"]),
    ({"model_args": {"torch_dtype": "float64"}}, ["model.torch_dtype", "float64", "bfloat16"]),
])
def test_bad_settings_are_refused_in_one_line(tmp_path, class_folder, change, words):
    config = class_config(tmp_path, class_folder, **change.get("model_args", {}))
    if "data" in change:
        text = config.read_text()
        import yaml

        loaded = yaml.safe_load(text)
        loaded["data"]["init_args"].update(change["data"])
        config.write_text(yaml.safe_dump(loaded))
    code, _, err = run_cli(["test", "--config", str(config)])
    assert code == 2, err[-2000:]
    [line] = error_lines(err)
    assert all(w in line for w in words), line


def test_the_text_model_needs_prompts_and_the_pixel_model_refuses_them(tmp_path, text_folder, pixel_folder):
    from restart_lightning.adapters import DiffusersModule
    from restart_lightning.data import EvaluationDataModule

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a cat\n")
    for folder, data, message in [
        (text_folder, EvaluationDataModule((3, 8, 8)), "data.prompts: this model is text-conditional"),
        (pixel_folder, EvaluationDataModule((3, 8, 8), prompts=str(prompts)), "has no text encoder"),
        (pixel_folder, EvaluationDataModule((3, 8, 8), num_classes=2), "this model is unconditional"),
    ]:
        module = DiffusersModule(str(folder))
        module.trainer = type("T", (), {"datamodule": data})()  # what Lightning attaches before setup
        with pytest.raises(ValueError, match=message):
            module.setup("test")


def test_only_safetensors_weights_are_read(tmp_path, pixel_folder):
    """A folder with pickled weights only (diffusion_pytorch_model.bin) is refused, never unpickled."""
    from restart_lightning.adapters.diffusers_loading import load_components

    unet = diffusers.UNet2DModel.from_pretrained(pixel_folder / "unet")
    unet.save_pretrained(tmp_path / "pickled" / "unet", safe_serialization=False)
    shutil.copytree(pixel_folder / "scheduler", tmp_path / "pickled" / "scheduler")
    assert (tmp_path / "pickled" / "unet" / "diffusion_pytorch_model.bin").is_file()
    with pytest.raises(OSError, match="safetensors"):
        load_components(str(tmp_path / "pickled"))


def test_unsupported_models_are_named(tmp_path, pixel_folder):
    from restart_lightning.adapters.diffusers_loading import load_components

    folder = tmp_path / "model"
    shutil.copytree(pixel_folder, folder)
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "time_embedding_type": "fourier"}))
    with pytest.raises(ValueError, match="time_embedding_type is 'fourier'; only 'positional'"):
        load_components(str(folder))
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "_class_name": "UNet1DModel"}))
    with pytest.raises(ValueError, match="'UNet1DModel'; supported: UNet2DModel, UNet2DConditionModel"):
        load_components(str(folder))
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    flow = {"_class_name": "FlowMatchEulerDiscreteScheduler"}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(flow))
    with pytest.raises(ValueError, match="not a discrete-time"):
        load_components(str(folder))


def test_download_fetches_only_configs_and_safetensors(monkeypatch, pixel_folder):
    import huggingface_hub

    from restart_lightning.adapters.diffusers_loading import load_components

    asked = {}

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        asked.update(repo_id=repo_id, revision=revision, allow_patterns=allow_patterns)
        return str(pixel_folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    components = load_components("someone/ddpm-model", download=True, revision="main")
    assert asked["repo_id"] == "someone/ddpm-model" and asked["revision"] == "main"
    assert not any(p.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl", "*")) for p in asked["allow_patterns"])
    assert "*.safetensors" in asked["allow_patterns"]
    assert components.alphas_cumprod.shape == (1000,)


def test_dtype_is_honoured(pixel_folder):
    from restart_lightning.adapters import DiffusersModule
    from restart_lightning.sampling import Euler

    module = DiffusersModule(str(pixel_folder), torch_dtype="bfloat16")
    denoiser = module.denoiser
    assert denoiser.dtype == torch.bfloat16 and next(denoiser.net.unet.parameters()).dtype == torch.bfloat16
    calls = []
    denoiser.net.unet.register_forward_pre_hook(lambda m, args: calls.append((args[0].dtype, args[1].dtype)))
    result = Euler(num_steps=2)(denoiser, seeds=[0, 1], shape=(3, 8, 8))
    assert result.samples.dtype == torch.float64 and torch.isfinite(result.samples).all()
    assert calls == [(torch.bfloat16, torch.float32)] * 2  # the network in bfloat16, timesteps in float32


@pytest.mark.parametrize("config_name, folder_name, extra", [
    ("diffusers_pixel.yaml", "pixel_folder", []),
    ("diffusers_text_to_image.yaml", "text_folder", ["--model.torch_dtype", "float32"]),
])
def test_shipped_configs_run_with_a_small_model(request, tmp_path, repo_root, config_name, folder_name, extra):
    """The README's commands on the shipped configs, with the tiny models and a few samples."""
    folder = request.getfixturevalue(folder_name)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a photo of a cat\na dog\n")
    settings = [
        "--config", str(repo_root / "configs" / config_name), *extra,
        "--model.path", str(folder), "--data.init_args.data_shape", "[3, 8, 8]",
        "--data.init_args.reference_stats", str(write_reference_stats(tmp_path / "ref.npz", 3 * 8 * 8)),
        "--data.init_args.num_predict_samples", "3", "--data.init_args.batch_size", "3",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false",
    ]
    if folder_name == "text_folder":
        settings += ["--data.init_args.prompts", str(prompts)]
    evaluation = ["--trainer.callbacks.init_args.num_samples", "3", "--trainer.callbacks.init_args.batch_size", "3",
                  "--trainer.callbacks.init_args.feature_extractor", "identity"]
    code, out, err = run_cli(["test", *settings, *evaluation, "--sampler", "restart", "--sampler.num_steps", "3",
                              "--sampler.restart_intervals", "[[2, 1, 1.5, 12.0]]"])
    assert code == 0, err[-3000:]
    assert "| restart | restart |" in out
    code, out, err = run_cli(["predict", *settings, *evaluation, "--sampler", "euler", "--sampler.num_steps", "2"])
    assert code == 0, err[-3000:]
    assert np.load(next((tmp_path / "logs").glob("*/version_1/predict/samples.npz")))["samples"].shape == (3, 3, 8, 8)
