"""Two DDP processes on the CPU (gloo) give the metrics and samples of one process."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from restart_lightning.cli import main
from tests.evaluation.helpers import scalars, tiny_config

ROOT = Path(__file__).resolve().parents[2]


def run_test(config: Path, ckpt: Path, *extra: str) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "main.py", "test", "--config", str(config), "--ckpt_path", str(ckpt), *extra]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]



def test_two_processes_equal_one(tmp_path):
    # 61 samples: not divisible by 2, so the shares differ in size (no padding, no duplicates).
    # Every 2-D metric, the point-wise ones (KID, precision/recall: gathered features) too.
    metrics = ["sliced_w2", "nll", "mode_coverage", "in_mode_fraction", "frechet", "kid", "precision", "recall"]
    config = tiny_config(tmp_path, num_samples=61, batch_size=16, max_steps=10, metrics=metrics)
    main(["fit", "--config", str(config)])
    runs = tmp_path / "logs" / "tiny"
    ckpt = runs / "version_0" / "checkpoints" / "last.ckpt"
    run_test(config, ckpt, "--trainer.devices", "1")
    run_test(config, ckpt, "--trainer.devices", "2", "--trainer.strategy", "ddp")
    single, ddp = scalars(runs / "version_1"), scalars(runs / "version_2")
    metric_tags = [t for t in single if t.startswith("test/") and "_61/" in t]
    assert len(metric_tags) == 3 * len(metrics)
    assert {t.split("/")[1] for t in metric_tags} == {f"{m}_61" for m in metrics}
    # Seed blocks (5 of 12 seeds; the two processes split block 2): spreads and paired differences.
    block_tags = [t for t in single if t.startswith("test/") and "_12_" in t]
    assert any("_diff_vs_" in t for t in block_tags) and any("_mean/" in t for t in block_tags)
    for tag in metric_tags + block_tags:
        assert ddp[tag][-1][1] == pytest.approx(single[tag][-1][1], rel=1e-5, abs=1e-7), tag
    for label in ("heun", "edm_sde", "restart"):
        a = np.load(runs / "version_1" / "samples" / label / "samples.npz", allow_pickle=False)
        b = np.load(runs / "version_2" / "samples" / label / "samples.npz", allow_pickle=False)
        assert list(a["seeds"]) == list(b["seeds"]) == list(range(61))
        assert np.allclose(a["samples"], b["samples"], atol=1e-5)
