"""benchmarks/gpu_diffusers.py --smoke: the GPU comparison script runs (tiny models, CPU) and its outputs agree."""

import importlib.util
import re
import sys

import pytest


def test_smoke_mode_runs_and_ours_equals_diffusers(repo_root, one_thread):
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    sys.path.insert(0, str(repo_root / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("gpu_diffusers", repo_root / "benchmarks" / "gpu_diffusers.py")
        script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(script)
        text = script.main(["--smoke"])
    finally:
        sys.path.remove(str(repo_root / "benchmarks"))
    rows = [line for line in text.splitlines() if re.match(r"\| (euler|heun) \|", line)]
    assert len(rows) == 4  # Euler and Heun, for the pixel and the text-to-image model
    assert [int(r.split("|")[3]) for r in rows] == [3, 5, 6, 10]  # NFE; guidance doubles the text model's
    assert all(float(r.split("|")[-2]) < 1e-4 for r in rows)  # relative difference of the outputs
