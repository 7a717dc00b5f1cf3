"""Configs of evaluation runs on the tiny diffusers models, written into a temporary directory."""

from pathlib import Path

import numpy as np
import yaml


def write_reference_stats(path: Path, dim: int) -> Path:
    """EDM-format statistics (mu, sigma) of a standard normal in ``dim`` dimensions."""
    np.savez(path, mu=np.zeros(dim), sigma=np.eye(dim))
    return path


def evaluation_config(tmp_path: Path, model_folder: Path, data: dict, samplers: dict | None = None,
                      guidance_scale: float = 1.0, num_samples: int = 9, batch_size: int = 4,
                      model_args: dict | None = None) -> Path:
    """``main.py test``/``predict`` of the diffusers model in ``model_folder`` with the identity Frechet distance."""
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False,
            "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                       "init_args": {"save_dir": str(tmp_path / "logs"), "name": "adapted"}},
            "callbacks": [{"class_path": "restart_lightning.callbacks.SamplerEvaluation", "init_args": {
                "samplers": samplers or {"heun": {"name": "heun", "num_steps": 4}},
                "num_samples": num_samples, "batch_size": batch_size, "feature_extractor": "identity",
                "guidance_scale": guidance_scale, "num_pictures": 4}}],
        },
        "model": {"class_path": "restart_lightning.adapters.DiffusersModule",
                  "init_args": {"path": str(model_folder), **(model_args or {})}},
        "data": {"class_path": "restart_lightning.data.EvaluationDataModule", "init_args": data},
    }
    path = tmp_path / "adapted.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
