"""``main.py diagnose`` end to end on a tiny toy model trained here, and its one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.helpers import run_cli, tiny_args


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """One thread, as the tiny runs of the reliability tests."""


def _diagnose(save_dir: Path, checkpoint: Path, *extra: str) -> list[str]:
    return tiny_args(save_dir, 20, 10, "--ckpt_path", str(checkpoint), "--num_samples", "200", "--num_sigmas", "6",
                     *extra, command="diagnose")


def test_diagnose_prints_the_table_and_writes_the_picture(tmp_path, trained_checkpoint):
    args = _diagnose(tmp_path, trained_checkpoint, "--hybrid", "true", "--hybrid_samples", "100",
                     "--hybrid_cuts", "[0.1, 1.0]", "--sampler", "heun", "--sampler.num_steps", "4")
    code, out, err = run_cli(args)
    assert code == 0, err
    assert "Error profile, n = 200:" in out and "| sigma | loss | stderr | exact loss | excess |" in out
    assert "Hybrid test (heun plan: 7 NFE" in out and "n = 100 per run" in out
    assert "| (0.1, 1] |" in out and "| (1, inf] |" in out
    run = tmp_path / "toy" / "version_0"
    assert (run / "error_profile.png").stat().st_size > 0
    record = json.loads((run / "error_profile.json").read_text())
    assert len(record["profile"]["sigmas"]) == 6 and record["profile"]["num_samples"] == 200
    sigmas = record["profile"]["sigmas"]
    assert sigmas[0] == pytest.approx(0.002) and sigmas[-1] == pytest.approx(80)  # the predict sampler's range
    assert record["hybrid"]["nfe"] == 7 and record["hybrid"]["cuts"] == [0.1, 1.0]
    assert list(run.glob("events.out.tfevents.*"))


@pytest.mark.parametrize(("extra", "field"), [
    (("--num_sigmas", "1"), "num_sigmas"),
    (("--num_samples", "0"), "num_samples"),
    (("--band_share", "1.5"), "band_share"),
    (("--hybrid", "true", "--data.init_args.name", "moons"), "hybrid"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, trained_checkpoint, extra, field):
    code, out, err = run_cli(_diagnose(tmp_path, trained_checkpoint, *extra))
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and field in errors[0], err
    assert not (tmp_path / "toy").exists()


def test_diagnose_without_a_checkpoint_is_refused(tmp_path):
    code, _, err = run_cli(tiny_args(tmp_path, 20, 10, command="diagnose"))
    assert code == 2 and "error: ckpt_path: diagnose needs a checkpoint" in err
    assert not (tmp_path / "toy").exists()
