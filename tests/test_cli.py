"""The command line: every config parses, bad values fail early and name the field."""

from pathlib import Path

import pytest

from tests.reliability.helpers import run_cli as run_cli_streams

CONFIGS = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def run_cli(args) -> tuple[int, str]:
    """(exit code, stdout and stderr together)."""
    code, out, err = run_cli_streams(args)
    return code, out + err


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: Path(p).name)
def test_every_config_prints(config):
    code, text = run_cli(["fit", "--config", config, "--print_config"])
    assert code == 0, text
    assert "model:" in text and "trainer:" in text


@pytest.mark.parametrize(
    "override, field, allowed",
    [
        (["--model.preconditioning", "ddim"], "preconditioning", "edm"),
        (["--data.init_args.name", "spiral"], "name", "checkerboard"),
        (["--model.loss", "l1"], "loss", "vp"),
    ],
)
def test_bad_choices_fail_before_training_and_name_the_field(tmp_path, override, field, allowed):
    toy = [c for c in CONFIGS if c.endswith("toy.yaml")][0]
    code, text = run_cli(["fit", "--config", toy, "--trainer.default_root_dir", str(tmp_path), *override])
    assert code != 0
    assert field in text and allowed in text
    assert not (tmp_path / "logs").exists()


def test_negative_sigma_data_fails_before_training(tmp_path):
    toy = [c for c in CONFIGS if c.endswith("toy.yaml")][0]
    code, text = run_cli(["fit", "--config", toy, "--model.sigma_data", "-1", "--trainer.logger", "false"])
    assert code == 2 and "error: model.sigma_data: invalid value -1; allowed: a finite number > 0" in text


def test_digits_config_trains_evaluates_and_logs_a_grid(tmp_path):
    """configs/digits.yaml end to end, shortened: training, one evaluation, Frechet distance, grid."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    digits = [c for c in CONFIGS if c.endswith("digits.yaml")][0]
    code, text = run_cli([
        "fit", "--config", digits, "--trainer.max_steps", "4", "--trainer.val_check_interval", "4",
        "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
        "--trainer.logger.init_args.save_dir", str(tmp_path), "--checkpoint.every_n_train_steps", "4",
        "--model.net.init_args.base_channels", "8",
        "--trainer.callbacks.init_args.num_samples", "16", "--trainer.callbacks.init_args.batch_size", "16",
        "--trainer.callbacks.init_args.num_pictures", "4",
    ])
    assert code == 0, text[-3000:]
    [events] = list(tmp_path.glob("digits/version_0/events.out.tfevents.*"))
    accumulator = EventAccumulator(str(events), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    scalars, images = accumulator.Tags()["scalars"], accumulator.Tags()["images"]
    for sampler in ("heun", "edm_sde", "restart"):
        assert f"val/frechet_16/{sampler}" in scalars and f"val/nfe/{sampler}" in scalars
        assert f"val_samples/{sampler}" in images
    grid = accumulator.Images("val_samples/heun")[-1]
    assert grid.width >= 4 * 32 and grid.height >= 32  # 4 digits of 8x8, enlarged to 32-pixel tiles
