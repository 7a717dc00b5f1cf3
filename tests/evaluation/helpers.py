"""A tiny toy experiment config for evaluation tests, written into a temporary directory."""

from pathlib import Path

import yaml


def tiny_config(tmp_path: Path, num_samples: int = 64, batch_size: int = 16, max_steps: int = 10,
                metrics: list[str] | None = None) -> Path:
    config = {
        "seed_everything": 0,
        "trainer": {
            "max_steps": max_steps, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
            "enable_model_summary": False, "num_sanity_val_steps": 0, "log_every_n_steps": 1, "limit_val_batches": 1,
            "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                       "init_args": {"save_dir": str(tmp_path / "logs"), "name": "tiny"}},
            "callbacks": [{
                "class_path": "callbacks.SamplerEvaluation",
                "init_args": {
                    "samplers": {
                        "heun": {"name": "heun", "num_steps": 5},
                        "edm_sde": {"name": "edm_sde", "num_steps": 5, "S_churn": 5},
                        "restart": {"name": "restart", "num_steps": 5, "restart_intervals": [[3, 2, 0.1, 1.0]]},
                    },
                    "num_samples": num_samples, "batch_size": batch_size, "num_reference_samples": 512,
                },
            }],
        },
        "model": {"net": {"class_path": "restart_lightning.networks.MLP", "init_args": {"width": 16, "depth": 1}},
                  "sigma_data": 1.4, "ema_half_life": 1000},
        "data": {"class_path": "restart_lightning.data.ToyDataModule",
                 "init_args": {"batch_size": 64, "steps_per_epoch": 5, "num_val_samples": 64}},
    }
    if metrics is not None:
        config["trainer"]["callbacks"][0]["init_args"]["metrics"] = metrics
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of a TensorBoard run directory: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def fit_tiny_config(tmp_path: Path) -> tuple[Path, Path]:
    """Train ``tiny_config(tmp_path)`` in this process: (config, its last checkpoint)."""
    from tests.reliability.helpers import run_cli

    config = tiny_config(tmp_path)
    code, _, err = run_cli(["fit", "--config", str(config)])
    assert code == 0, err[-3000:]
    return config, tmp_path / "logs" / "tiny" / "version_0" / "checkpoints" / "last.ckpt"
