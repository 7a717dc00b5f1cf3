"""The evaluation callback end to end on the toy data: metrics, NFE, pictures, sample files, test."""

import numpy as np
import pytest

from restart_lightning.cli import main
from tests.evaluation.helpers import scalars, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny fit (10 steps, evaluated at the end of fit) shared by the tests below."""
    tmp = tmp_path_factory.mktemp("tiny")
    config = tiny_config(tmp)
    main(["fit", "--config", str(config)])
    run = tmp / "logs" / "tiny" / "version_0"
    return config, run


def test_fit_logs_every_metric_and_nfe_per_sampler(trained):
    _, run = trained
    tags = scalars(run)
    # Logged through Lightning: at the step Lightning gives the validation's val/loss.
    last_validation = tags["val/loss"][-1][0]
    for label, nfe in (("heun", 9), ("edm_sde", 9), ("restart", 9 + 2 * 2 * 2)):
        assert tags[f"val/nfe/{label}"][-1] == (last_validation, nfe)
        assert len(tags[f"val/nfe/{label}"]) == 2  # steps 5 and 10 (epoch ends); fit ended at an evaluated step
        for metric in ("sliced_w2", "nll", "mode_coverage", "in_mode_fraction"):
            assert f"val/{metric}_64/{label}" in tags
        # The 2-D default leaves out the Frechet distance: it cannot tell a ring from the grid.
        assert f"val/frechet_64/{label}" not in tags
        assert not any("_mean/" in tag for tag in tags), "seed blocks are a test-time report"
        assert f"val/sampling_seconds/{label}" in tags
    assert "train/loss" in tags and any(t.startswith("train/loss_sigma_") for t in tags)
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_test_command_writes_samples_and_curves(trained, capsys):
    config, run = trained
    main(["test", "--config", str(config), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--sampler", "heun", "--sampler.num_steps", "3", "--sampler", "heun", "--sampler.num_steps", "6"])
    test_run = run.parent / "version_1"
    assert not (run / "samples").exists(), "test must write into its own run directory"
    for label in ("heun", "heun_1"):
        saved = np.load(test_run / "samples" / label / "samples.npz", allow_pickle=False)
        assert saved["samples"].shape == (64, 2) and list(saved["seeds"]) == list(range(64))
        assert (test_run / "samples" / label / "density.png").is_file()
    tags = scalars(test_run)
    # One curve per family, with the NFE as its step.
    assert [step for step, _ in tags["test/sliced_w2_64_vs_nfe/heun"]] == [5, 11]
    # Seed blocks (default 5 of 64 // 5 = 12 seeds): spread per sampler, paired difference to the first.
    for suffix in ("mean", "std", "ci95"):
        assert f"test/sliced_w2_12_{suffix}/heun" in tags and f"test/nll_12_{suffix}/heun_1" in tags
    assert "test/nll_12_diff_vs_heun/heun_1" in tags and "test/nll_12_diff_ci95_vs_heun/heun_1" in tags
    assert "test/nll_12_diff_vs_heun/heun" not in tags
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "| heun | heun | 5 | 64 |" in printed
    assert "Seed blocks: 5 blocks of 12 consecutive seeds" in printed and "| heun | 5 | 5 x 12 |" in printed
    assert "Paired differences to heun" in printed and "| heun_1 | 11 |" in printed


def test_unknown_cli_sampler_fails_before_anything(trained, capsys):
    config, run = trained
    with pytest.raises(SystemExit) as stop:  # main() reports user errors as one line, exit code 2
        main(["test", "--config", str(config), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
              "--sampler", "ddim"])
    assert stop.value.code == 2 and "valid names: restart, heun" in capsys.readouterr().err
    assert not (run.parent / "version_2").exists()


def test_zero_samples_is_refused():
    from restart_lightning.callbacks import SamplerEvaluation

    with pytest.raises(ValueError, match="SamplerEvaluation.num_samples: invalid value 0; allowed: an integer >= 1"):
        SamplerEvaluation(num_samples=0)


def test_batch_size_does_not_change_the_samples(trained, tmp_path):
    """Per-sample seeds: the same n samples whatever the per-call batch size."""
    import lightning.pytorch as pl
    import torch

    from restart_lightning.callbacks import SamplerEvaluation
    from restart_lightning.data import ToyDataModule
    from restart_lightning.module import DiffusionModule
    from restart_lightning.networks import MLP

    _, run = trained
    module = DiffusionModule.load_from_checkpoint(run / "checkpoints" / "last.ckpt", net=MLP(width=16, depth=1))
    rows = []
    for batch_size in (5, 64):
        evaluation = SamplerEvaluation({"sde": {"name": "edm_sde", "num_steps": 4, "S_churn": 5}}, num_samples=20,
                                       batch_size=batch_size, num_reference_samples=100, save_samples=True)
        trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[evaluation], enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=tmp_path / str(batch_size))
        trainer.test(module, ToyDataModule(num_val_samples=16), verbose=False)
        saved = tmp_path / str(batch_size) / "samples" / "sde" / "samples.npz"
        rows.append(np.load(saved, allow_pickle=False)["samples"])
    assert np.allclose(rows[0], rows[1], atol=1e-5)
    assert torch.tensor(rows[0]).std() > 0


def test_predict_writes_samples_for_seeds(trained):
    config, run = trained
    main(["predict", "--config", str(config), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--data.init_args.num_predict_samples", "10", "--sampler", "heun", "--sampler.num_steps", "4"])
    versions = sorted(run.parent.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    saved = np.load(versions[-1] / "predict" / "samples.npz", allow_pickle=False)
    assert saved["samples"].shape == (10, 2) and list(saved["seeds"]) == list(range(10))


def test_reference_statistics_are_computed_once_and_then_loaded(tmp_path, monkeypatch):
    import lightning.pytorch as pl

    from restart_lightning.callbacks import SamplerEvaluation
    from restart_lightning.data import ToyDataModule
    from restart_lightning.module import DiffusionModule
    from restart_lightning.networks import MLP

    monkeypatch.setenv("RESTART_LIGHTNING_CACHE", str(tmp_path / "cache"))
    module = DiffusionModule(MLP(width=8, depth=1), sigma_data=1.4)
    counts = []
    for _ in range(2):
        evaluation = SamplerEvaluation({"heun": {"name": "heun", "num_steps": 2}}, num_samples=8,
                                       num_reference_samples=300, metrics=["frechet", "sliced_w2"])
        trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[evaluation], enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=tmp_path)
        datamodule = ToyDataModule(num_val_samples=8)
        for _ in range(2):  # two evaluations in one run
            trainer.test(module, datamodule, verbose=False)
        frechet = evaluation.metrics["frechet"]
        counts.append((frechet.reference_stats_computed, frechet.reference_stats_loaded))
    assert counts == [(1, 0), (0, 1)]
    assert len(list((tmp_path / "cache" / "reference").glob("*.npz"))) == 1
