"""Sampler metrics reach Lightning: callback_metrics (ModelCheckpoint monitor, EarlyStopping), any logger
(CSV), trainer.test()'s return value; the end-of-fit evaluation; one results table."""

import csv
import json

import lightning.pytorch as pl
import pytest
import torch

from restart_lightning.callbacks import SamplerEvaluation
from restart_lightning.cli import main
from restart_lightning.data import ToyDataModule
from restart_lightning.module import DiffusionModule
from restart_lightning.networks import MLP

HEUN = {"heun": {"name": "heun", "num_steps": 3}}


def csv_logger(save_dir) -> str:
    return json.dumps({"class_path": "lightning.pytorch.loggers.CSVLogger",
                       "init_args": {"save_dir": str(save_dir), "name": "csv"}})


def read_metrics(run) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_monitor_keeps_the_checkpoint_of_the_best_evaluation_and_csv_records_it(tmp_path, capsys):
    """configs/toy.yaml (shortened) with --checkpoint.monitor val/sliced_w2_64/heun and step-wise checkpoints
    keeps the checkpoints whose own evaluations scored best; re-evaluating the best one gives the logged value."""
    metric = "val/sliced_w2_64/heun"
    shorter = ["--trainer.max_steps", "40", "--trainer.check_val_every_n_epoch", "2",
               "--trainer.log_every_n_steps", "5",
               "--data.init_args.steps_per_epoch", "5", "--data.init_args.batch_size", "64",
               "--data.init_args.num_val_samples", "64", "--model.net.init_args.width", "16",
               "--trainer.enable_progress_bar", "false", "--trainer.logger", csv_logger(tmp_path),
               "--trainer.callbacks.init_args.samplers", json.dumps(HEUN),
               "--trainer.callbacks.init_args.num_samples", "64", "--trainer.callbacks.init_args.batch_size", "64",
               "--trainer.callbacks.init_args.num_reference_samples", "512"]
    main(["fit", "--config", "toy.yaml", *shorter, "--checkpoint.monitor", metric,
          "--checkpoint.every_n_train_steps", "3", "--checkpoint.save_top_k", "2"])
    run = tmp_path / "csv" / "version_0"
    rows = [r for r in read_metrics(run) if r.get(metric)]
    assert len(rows) == 4  # evaluations after epochs 1, 3, 5, 7 (steps 10, 20, 30, 40)
    assert {"val/nfe/heun", "val/sampling_seconds/heun", "val/nll_64/heun"} <= set(rows[0])
    # A logger without images gets the pictures as files.
    assert len(list((run / "pictures" / "val_samples" / "heun").glob("step*.png"))) == 4
    two_best = sorted(rows, key=lambda r: float(r[metric]))[:2]
    kept = sorted((run / "checkpoints").glob("step*.ckpt"))
    assert len(kept) == 2 and (run / "checkpoints" / "last.ckpt").is_file()
    saved = [torch.load(path, map_location="cpu", weights_only=True) for path in kept]
    # The checkpoints of the two best evaluations, not of steps in between scored with an older value.
    assert sorted(s["epoch"] for s in saved) == sorted(int(r["epoch"]) for r in two_best)
    assert all(s["global_step"] == 5 * (s["epoch"] + 1) for s in saved)
    best = two_best[0]
    [best_path] = [path for path, s in zip(kept, saved) if s["epoch"] == int(best["epoch"])]

    capsys.readouterr()
    main(["test", "--config", "toy.yaml", *shorter, "--ckpt_path", str(best_path)])
    tested = [r for r in read_metrics(tmp_path / "csv" / "version_1") if r.get("test/sliced_w2_64/heun")]
    assert float(tested[0]["test/sliced_w2_64/heun"]) == pytest.approx(float(best[metric]), rel=1e-6)
    out = capsys.readouterr().out
    assert out.count("| sampler | family | NFE | n |") == 1  # one table, not Lightning's as well
    assert "Test metric" not in out


def test_trainer_test_returns_every_samplers_metrics(tmp_path):
    module = DiffusionModule(MLP(width=8, depth=1), sigma_data=1.4)
    samplers = {"heun": {"name": "heun", "num_steps": 2}, "sde": {"name": "edm_sde", "num_steps": 2, "S_churn": 1}}
    evaluation = SamplerEvaluation(samplers, num_samples=12, num_reference_samples=64)
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[evaluation], enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    [results] = trainer.test(module, ToyDataModule(num_val_samples=8), verbose=False)
    for label, nfe in (("heun", 3), ("sde", 3)):
        assert results[f"test/nfe/{label}"] == nfe
        for name in ("sliced_w2", "nll", "mode_coverage", "in_mode_fraction"):
            row = evaluation.results[list(samplers).index(label)]
            assert results[f"test/{name}_12/{label}"] == pytest.approx(row[name])
    assert "test/loss" in results


def test_end_of_fit_evaluation_is_logged_and_monitorable(tmp_path):
    """max_steps inside an epoch: the evaluation at the end of fit reaches callback_metrics and the logger."""
    module = DiffusionModule(MLP(width=8, depth=1), sigma_data=1.4)
    evaluation = SamplerEvaluation(HEUN, num_samples=8, num_reference_samples=64, every_n_epochs=0)
    logger = pl.loggers.CSVLogger(tmp_path, name="csv")
    trainer = pl.Trainer(accelerator="cpu", max_steps=7, logger=logger, callbacks=[evaluation], log_every_n_steps=1,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, ToyDataModule(batch_size=16, steps_per_epoch=5, num_val_samples=8))
    assert evaluation.last_evaluated_step == 7
    assert trainer.callback_metrics["val/sliced_w2_8/heun"] == pytest.approx(evaluation.results[0]["sliced_w2"])
    logged = [r for r in read_metrics(tmp_path / "csv" / "version_0") if r.get("val/sliced_w2_8/heun")]
    assert len(logged) == 1


def test_every_n_steps_must_reach_the_logger(tmp_path):
    evaluation = SamplerEvaluation(HEUN, num_samples=8, num_reference_samples=64, every_n_steps=3)
    trainer = pl.Trainer(accelerator="cpu", max_steps=3, logger=False, callbacks=[evaluation], log_every_n_steps=2,
                         enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ValueError, match=r"every_n_steps \(3\) must be a multiple of trainer.log_every_n_steps \(2\)"):
        trainer.fit(DiffusionModule(MLP(width=8, depth=1), sigma_data=1.4), ToyDataModule(num_val_samples=8))
