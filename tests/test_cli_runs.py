"""The command line as a user meets it: the typed --sampler argument and replaying a run's config.yaml,
where runs go, packaged configs, finished runs, checkpoints of other data, plan summaries."""

import numpy as np
import pytest
import yaml

from tests.evaluation.helpers import fit_tiny_config, tiny_config
from tests.reliability.helpers import run_cli

ROOT_PRESET = "samplers/restart_toy_nfe43.yaml"  # a package-relative name


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return fit_tiny_config(tmp_path_factory.mktemp("tiny_run"))


def test_sampler_is_a_typed_argument_in_help_and_print_config(tiny_run):
    config, _ = tiny_run
    code, out, _ = run_cli(["test", "--help"])
    assert code == 0 and "--sampler SAMPLER" in out and "--num_threads" in out
    code, out, err = run_cli(["test", "--config", str(config), "--print_config",
                              "--sampler", "heun", "--sampler.num_steps", "4", "--sampler", ROOT_PRESET])
    assert code == 0, err
    printed = yaml.safe_load(out)
    assert printed["sampler"]["heun"] == {"name": "heun", "num_steps": 4}
    assert printed["sampler"]["restart_toy_nfe43"]["name"] == "restart"  # the preset's options, inlined


def test_replaying_a_runs_config_gives_bit_identical_samples(tiny_run, tmp_path, monkeypatch):
    config, ckpt = tiny_run
    save_dir = tmp_path / "runs"
    code, _, err = run_cli([
        "test", "--config", str(config), "--ckpt_path", str(ckpt), "--trainer.logger.init_args.save_dir", str(save_dir),
        "--sampler", "edm_sde", "--sampler.num_steps", "4", "--sampler.S_churn", "5", "--sampler", ROOT_PRESET,
    ])
    assert code == 0, err[-3000:]
    first = save_dir / "tiny" / "version_0"
    saved = yaml.safe_load((first / "config.yaml").read_text())
    assert list(saved["sampler"]) == ["edm_sde", "restart_toy_nfe43"]
    monkeypatch.chdir(tmp_path)  # the saved config names no file relative to the directory it ran in
    code, _, err = run_cli(["test", "--config", str(first / "config.yaml")])
    assert code == 0, err[-3000:]
    replay = save_dir / "tiny" / "version_1"
    for label in ("edm_sde", "restart_toy_nfe43"):
        a = np.load(first / "samples" / label / "samples.npz")
        b = np.load(replay / "samples" / label / "samples.npz")
        assert a["samples"].shape == (64, 2) and np.array_equal(a["samples"], b["samples"])
        assert np.array_equal(a["seeds"], b["seeds"])
    assert not (replay / "samples" / "heun").exists()  # the experiment's own samplers stayed replaced


def test_default_root_dir_decides_where_runs_go(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", "toy.yaml", "--trainer.callbacks", "[]", "--trainer.max_steps", "2",
            "--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar", "false",
            "--model.net.init_args.width", "8", "--data.init_args.batch_size", "16"]
    code, _, err = run_cli([*args, "--trainer.default_root_dir", str(tmp_path / "root")])
    assert code == 0, err[-3000:]
    assert (tmp_path / "root" / "toy" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    code, _, err = run_cli([*args, "--trainer.default_root_dir", str(tmp_path / "root"),
                            "--trainer.logger.init_args.save_dir", str(tmp_path / "explicit")])
    assert code == 0, err[-3000:]
    assert (tmp_path / "explicit" / "toy" / "version_0" / "config.yaml").is_file()
    assert not (tmp_path / "logs").exists()


def test_unknown_config_name_lists_the_packaged_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["fit", "--config", "toys.yaml"])
    assert code == 2 and "error: --config: no file at 'toys.yaml'; the packaged configs are:" in err
    assert "toy.yaml" in err and "digits.yaml" in err


def test_resuming_a_finished_run_says_so_and_writes_nothing(tiny_run, tmp_path):
    config, ckpt = tiny_run
    before = sorted(p.name for p in ckpt.parents[2].iterdir())
    code, out, err = run_cli(["fit", "--config", str(config), "--ckpt_path", str(ckpt)])
    assert code == 0
    assert "is at step 10, which is trainer.max_steps (10): the run is finished and nothing was written" in err
    assert sorted(p.name for p in ckpt.parents[2].iterdir()) == before


def test_checkpoint_of_other_data_is_named_in_one_line(tiny_run, tmp_path):
    config, ckpt = tiny_run
    code, out, err = run_cli(["validate", "--config", str(config), "--ckpt_path", str(ckpt),
                              "--data.init_args.name", "ring", "--trainer.logger", "false",
                              "--trainer.default_root_dir", str(tmp_path),
                              "--trainer.callbacks", "[]"])
    assert code == 0, err[-3000:]
    notes = [line for line in err.splitlines() if "trained on other data" in line]
    assert len(notes) == 1 and "data.name 'grid' -> 'ring'" in notes[0]


def test_predict_prints_the_plan_summary(tiny_run):
    config, ckpt = tiny_run
    code, out, err = run_cli(["predict", "--config", str(config), "--ckpt_path", str(ckpt),
                              "--data.init_args.num_predict_samples", "4", "--sampler", "heun",
                              "--sampler.num_steps", "3"])
    assert code == 0, err[-3000:]
    assert "predict sampler heun: heun plan: 5 NFE" in out


def test_a_run_prints_no_harmless_warnings(tmp_path):
    """As a user sees it (a subprocess, no pytest warning filters): no EMA eval-mode warning, no advertisement,
    no placeholder hp_metric in TensorBoard; the evaluation's plan summary and result line are there."""
    from tests.evaluation.helpers import scalars
    from tests.reliability.helpers import run_main

    config = tiny_config(tmp_path, num_samples=16, max_steps=5)
    done = run_main(["fit", "--config", str(config)])
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    for noise in ("in eval mode", "Tip:", "LeafSpec", "Warning"):
        assert noise not in output, noise
    assert "sampler heun: heun plan: 9 NFE" in output and "step 5 | heun (heun, 9 NFE, n=16):" in output
    assert not any(tag.startswith("hp_metric") for tag in scalars(tmp_path / "logs" / "tiny" / "version_0"))
