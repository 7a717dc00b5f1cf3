"""Malformed configs and command lines are refused at start: one ``error:`` line naming the field,
the bad value and what is allowed, exit code 2, no traceback, nothing written into a run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import TOY, error_lines, run_cli, run_main, snapshot, tiny_args

CALLBACK = "trainer:\n  callbacks:\n    - class_path: restart_lightning.callbacks.SamplerEvaluation\n      init_args: {%s}\n"
YAML_FILES = {
    "syntax.yaml": "model:\n  lr: [1, 2\n",
    "unknown_key.yaml": "modle:\n  lr: 0.1\n",
    "bad_choice.yaml": "model:\n  preconditioning: xyz\n",
    "bad_type.yaml": "trainer:\n  max_steps: many\n",
    "list.yaml": "- 1\n- 2\n",
    "cb_num_samples.yaml": CALLBACK % "num_samples: 0",
    "cb_sampler.yaml": CALLBACK % "samplers: {x: {name: nosuch}}",
    "cb_restart.yaml": CALLBACK % "samplers: {r: {name: restart, restart_intervals: [[3, 2, 0.5, 0.1]]}}",
    "cb_weights.yaml": CALLBACK % "inception_weights: /nonexistent/pt_inception.pth",
    "cb_features.yaml": CALLBACK % "feature_extractor: foo",
    "cb_every.yaml": CALLBACK % "every_n_steps: 0",
    "cb_class.yaml": "trainer:\n  callbacks:\n    - class_path: callbacks.NoSuchCallback\n",
}

# (extra arguments, words the error line must contain); {y} is the directory of YAML_FILES.
CASES = [
    (["--model.preconditioning", "ddim"], ["model.preconditioning", "'ddim'", "edm, vp, ve"]),
    (["--model.loss", "l1"], ["model.loss", "'l1'", "edm, vp, ve"]),
    (["--model.lr", "abc"], ["model.lr", "float", "'abc'"]),
    (["--model.lr", "-1"], ["model.lr", "> 0", "-1"]),
    (["--model.sigma_data", "0"], ["model.sigma_data", "> 0", "0"]),
    (["--model.P_std", "-1"], ["model.P_std", "> 0", "-1"]),
    (["--model.betas", "[0.9, 1.5]"], ["model.betas", "[0, 1)", "1.5"]),
    (["--model.lr_warmup_steps", "-5"], ["model.lr_warmup_steps", ">= 0", "-5"]),
    (["--model.ema_half_life", "-1"], ["model.ema_half_life", ">= 0", "-1"]),
    (["--model.ema_rampup_ratio", "0"], ["model.ema_rampup_ratio", "> 0", "0"]),
    (["--model.on_nonfinite", "ignore"], ["model.on_nonfinite", "'ignore'", "raise, skip"]),
    (["--model.predict_sampler", "nosuch"], ["model.predict_sampler", "'nosuch'", "heun"]),
    (["--model.net.init_args.width", "-3"], ["width", "-3", ">= 2"]),
    (["--model.net.init_args.dim", "3"], ["model.net", "shape [2]", "MLP"]),
    (["--data.init_args.name", "spiral"], ["data.init_args.name", "'spiral'", "grid, ring, moons, checkerboard"]),
    (["--data.init_args.batch_size", "0"], ["data.batch_size", ">= 1", "0"]),
    (["--data.init_args.steps_per_epoch", "0"], ["data.steps_per_epoch", ">= 1", "0"]),
    (["--trainer.devices", "0"], ["trainer.devices", "'0'", "'auto', -1"]),
    (["--trainer.devices", "abc"], ["trainer.devices", "'abc'", "list of device indices"]),
    (["--trainer.devices", "[0, -1]"], ["trainer.devices", "[0, -1]", "list of device indices"]),
    (["--trainer.num_nodes", "0"], ["trainer.num_nodes", "0", ">= 1"]),
    (["--trainer.accelerator", "nonsense"], ["accelerator", "'nonsense'", "cpu"]),
    (["--trainer.max_steps", "abc"], ["trainer.max_steps", "int", "'abc'"]),
    (["--trainer.max_steps", "-5"], ["max_steps", "-5", "-1"]),
    (["--checkpoint.every_n_train_steps", "-1"], ["every_n_train_steps", "-1", ">= 0"]),
    (["--no_such_flag", "1"], ["unrecognized arguments", "--no_such_flag"]),
    (["--config", "{y}/missing.yaml"], ["--config", "missing.yaml"]),
    (["--config", "{y}/syntax.yaml"], ["syntax.yaml", "not valid YAML", "line 3"]),
    (["--config", "{y}/list.yaml"], ["list.yaml", "mapping", "list"]),
    (["--config", "{y}/unknown_key.yaml"], ["modle.lr"]),
    (["--config", "{y}/bad_choice.yaml"], ["model.preconditioning", "'xyz'", "edm, vp, ve"]),
    (["--config", "{y}/bad_type.yaml"], ["trainer.max_steps", "int", "'many'"]),
    (["--sampler", "nosuch"], ["--sampler", "'nosuch'", "heun"]),
    (["--sampler", "heun", "--sampler.num_steps", "0"], ["num_steps", "0", ">= 1"]),
    (["--sampler", "heun", "--sampler.nosuchopt", "3"], ["'nosuchopt'", "num_steps, schedule"]),
    (["--sampler.num_steps", "5"], ["--sampler.num_steps", "--sampler <name"]),
    (["--sampler"], ["--sampler", "expected a value"]),
    (["--sampler", "{y}/missing_preset.yaml"], ["--sampler", "missing_preset.yaml"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, 4, 0.5, 0.06]]"], ["t_min", "0.5", "t_max"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, 4, -1, 0.5]]"], ["t_min", "-1", "0 < t_min"]),
    (["--sampler", "heun", "--sampler.sigma_min", "-1"], ["sigma_min", "-1", "> 0"]),
    (["--sampler", "heun", "--sampler.sigma_min", "0.1", "--sampler.sigma_max", "0.01"], ["sigma_max", "0.01"]),
    (["--config", "{y}/cb_num_samples.yaml"], ["SamplerEvaluation.num_samples", ">= 1", "0"]),
    (["--config", "{y}/cb_sampler.yaml"], ["SamplerEvaluation.samplers.x", "'nosuch'", "heun"]),
    (["--config", "{y}/cb_restart.yaml"], ["SamplerEvaluation.samplers.r", "t_min", "0.5"]),
    (["--config", "{y}/cb_weights.yaml"], ["SamplerEvaluation.inception_weights", "/nonexistent/pt_inception.pth"]),
    (["--config", "{y}/cb_features.yaml"], ["SamplerEvaluation.feature_extractor", "'foo'", "inception"]),
    (["--config", "{y}/cb_every.yaml"], ["SamplerEvaluation.every_n_steps", "0", ">= 1"]),
    (["--config", "{y}/cb_class.yaml"], ["trainer.callbacks", "NoSuchCallback"]),
    (["--ckpt_path", "{y}/missing.ckpt"], ["ckpt_path", "missing.ckpt"]),
]


@pytest.fixture(scope="module")
def yaml_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("yaml")
    for name, text in YAML_FILES.items():
        (directory / name).write_text(text)
    return directory


def check_refused(args: list[str], words: list[str], run_dir: Path) -> str:
    before = snapshot(run_dir)
    code, out, err = run_cli(args)
    assert code == 2, (args, out[-2000:], err[-2000:])
    lines = error_lines(err)
    assert len(lines) == 1, err
    line = lines[0]
    assert "\n" not in line and "Traceback" not in err + out
    missing = [w for w in words if w not in line]
    assert not missing, (missing, line)
    assert snapshot(run_dir) == before, "a refused run wrote files"
    return line


@pytest.mark.parametrize("extra, words", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_malformed_input_is_refused_in_one_line(trained_run, yaml_dir, extra, words):
    extra = [a.replace("{y}", str(yaml_dir)) for a in extra]
    uses_callbacks = any("cb_" in a for a in extra)
    args = tiny_args(trained_run, 20, 10, *extra)
    if uses_callbacks:  # let the YAML's callbacks stand instead of tiny_args' empty list
        i = args.index("--trainer.callbacks")
        del args[i:i + 2]
    check_refused(args, [w.replace("{y}", str(yaml_dir)) for w in words], trained_run)


def test_run_directories_of_earlier_runs_are_refused(trained_run):
    run = trained_run / "toy" / "version_0"
    check_refused(tiny_args(trained_run, 20, 10, "--trainer.logger.init_args.version", "0"),
                  ["trainer.logger", str(run), "already holds an earlier run"], trained_run)
    check_refused(tiny_args(trained_run, 20, 10, "--checkpoint.dirpath", str(run / "checkpoints")),
                  ["checkpoint.dirpath", "already holds checkpoints", "--ckpt_path last"], trained_run)
    for command in ("test", "validate", "predict"):
        check_refused(tiny_args(trained_run, 20, 10, "--trainer.logger.init_args.name", "empty",
                                "--ckpt_path", "last", command=command),
                      ["ckpt_path", "'last' found no checkpoint", str(trained_run / "empty")], trained_run)


def test_end_to_end_exit_code_and_no_traceback(tmp_path):
    """Through ``python main.py`` (the in-process cases above take the same path): one line on stderr."""
    for extra, words in [(["--data.init_args.batch_size", "0"], ["data.batch_size", ">= 1"])]:
        result = run_main(["fit", "--config", TOY, "--trainer.logger.init_args.save_dir", str(tmp_path), *extra])
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and all(w in lines[-1] for w in words), lines
        assert len(error_lines(result.stderr)) == 1 and len(lines) <= 2  # at most "Seed set to 0" before it
        assert not any(tmp_path.iterdir())
