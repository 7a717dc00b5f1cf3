"""benchmarks/gpu_cifar10.py --smoke: every part of the GPU script runs (tiny network, CPU), within its budget."""

import importlib.util

import torch


def test_smoke_mode_runs_every_part(repo_root, one_thread):
    spec = importlib.util.spec_from_file_location("gpu_cifar10", repo_root / "benchmarks" / "gpu_cifar10.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    threads = torch.get_num_threads()
    try:
        text = script.main(["--smoke"])
    finally:
        torch.set_num_threads(threads)
    assert "Nothing skipped." in text
    for title in ("### 1. Start-up", "### 2. Sampling", "### 3. FID-50k", "### 4. Training"):
        assert title in text
    assert "failed" not in text
    assert text.count("library samples == minimal/per-sample samples (float32): True") == 2
    assert "EXTRAPOLATED: FID-50k" in text
    training = [line for line in text.splitlines() if line.startswith(("| float32 (TF32 off) |", "| bf16-mixed"))]
    assert len(training) == 4  # fp32, bf16, bf16 + channels_last, + compile: bare and Lightning images/s each
    assert all(float(line.split("|")[2]) > 0 and float(line.split("|")[5]) > 0 for line in training)


def test_budget_skips_what_does_not_fit(repo_root):
    spec = importlib.util.spec_from_file_location("gpu_cifar10", repo_root / "benchmarks" / "gpu_cifar10.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    budget = script.Budget(0.0)
    assert not budget.allows("training: compile", 120)
    assert budget.skipped and budget.skipped[0].startswith("training: compile (needs ~120 s")
    assert script.without_options(["--smoke", "--only", "fid", "training", "--budget", "30", "--steps", "3"],
                                  {"--only": 4, "--budget": 1}) == ["--smoke", "--steps", "3"]
