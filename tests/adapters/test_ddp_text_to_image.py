"""``main.py test`` of a text-to-image latent model with prompts, guidance 2 and Restart: 2 DDP processes
on the CPU (gloo) give the metrics and samples of 1 process."""

import os
import subprocess
import sys

import numpy as np
import pytest

from restart_lightning.cli import main
from tests.adapters.helpers import evaluation_config, write_reference_stats
from tests.evaluation.helpers import scalars
from tests.evaluation.test_ddp import ROOT

RESTART = ["--sampler", "restart", "--sampler.num_steps", "4", "--sampler.restart_intervals", "[[2, 2, 0.5, 2.0]]"]


def test_two_processes_equal_one(tmp_path, text_folder):
    pytest.importorskip("transformers")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cat\na blue dog on a hill\n\ngreen\n")  # the blank line is skipped
    data = {"data_shape": [3, 8, 8], "prompts": str(prompts),
            "reference_stats": str(write_reference_stats(tmp_path / "ref.npz", 3 * 8 * 8))}
    # 11 samples: the two shares differ in size; batches of 4 cut them differently than in one process.
    config = evaluation_config(tmp_path, text_folder, data, guidance_scale=2.0, num_samples=11, batch_size=4)
    main(["test", "--config", str(config), *RESTART])
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "main.py", "test", "--config", str(config), *RESTART,
               "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = tmp_path / "logs" / "adapted"
    single, ddp = scalars(runs / "version_0"), scalars(runs / "version_1")
    # Heun with 4 steps (7 calls) + 2 rounds of 1 Heun step (2 calls each) = 11 calls, 2 NFE each (guidance).
    assert single["test/nfe/restart"][-1][1] == ddp["test/nfe/restart"][-1][1] == 22
    assert ddp["test/frechet_11/restart"][-1][1] == pytest.approx(single["test/frechet_11/restart"][-1][1], rel=1e-5)
    a = np.load(runs / "version_0" / "samples" / "restart" / "samples.npz")
    b = np.load(runs / "version_1" / "samples" / "restart" / "samples.npz")
    assert a["samples"].shape == (11, 3, 8, 8) and a["samples"].dtype == np.uint8  # decoded images
    assert list(a["seeds"]) == list(b["seeds"]) == list(range(11))
    assert np.abs(a["samples"].astype(int) - b["samples"].astype(int)).max() <= 1  # uint8 rounding at most
    assert len(np.unique(a["samples"].reshape(11, -1), axis=0)) == 11
