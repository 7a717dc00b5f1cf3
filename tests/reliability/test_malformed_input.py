"""Malformed configs and command lines are refused at start: exit code 2, one ``error:`` line naming the
field, the bad value and what is allowed, no traceback, nothing written anywhere, in bounded time and memory.

The cases run in this process through ``restart_lightning.cli.main`` (``assert_refused``); the classes
follow the hardening issue: non-finite values (2), sizes that cannot fit (3), former tracebacks (4),
errors that used to be found only after a run directory was written (5), unclear messages (6) and
values that were accepted though wrong (7). Files (checkpoints, statistics, weights, data) are in
``test_malformed_files.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    TOY,
    assert_refused,
    error_lines,
    run_cli,
    run_main_with_peak_memory,
    tiny_args,
    tiny_digits_args,
)

CALLBACK = ("trainer:\n  callbacks:\n    - class_path: restart_lightning.callbacks.SamplerEvaluation\n"
            "      init_args: {%s}\n")
SMALL = "samplers: {h: {name: heun, num_steps: 2}}, num_samples: 16, batch_size: 16, num_reference_samples: 64, "
YAML_FILES = {
    "syntax.yaml": "model:\n  lr: [1, 2\n",
    "unknown_key.yaml": "modle:\n  lr: 0.1\n",
    "bad_choice.yaml": "model:\n  preconditioning: xyz\n",
    "bad_type.yaml": "trainer:\n  max_steps: many\n",
    "list.yaml": "- 1\n- 2\n",
    "ema_nan.yaml": "model:\n  ema_half_life: .nan\n",
    "lr_inf.yaml": "model:\n  lr: .inf\n",
    "binary.yaml": "\x00\x01\x02 \xff: [",
    "preset_syntax.yaml": "name: heun\nnum_steps: [3\n",
    "preset_list.yaml": "- heun\n",
    "preset_nan.yaml": "name: edm_sde\nS_noise: .nan\n",
    "cb_num_samples.yaml": CALLBACK % "num_samples: 0",
    "cb_sampler.yaml": CALLBACK % "samplers: {x: {name: nosuch}}",
    "cb_restart.yaml": CALLBACK % "samplers: {r: {name: restart, restart_intervals: [[3, 2, 0.5, 0.1]]}}",
    "cb_weights.yaml": CALLBACK % "inception_weights: /nonexistent/pt_inception.pth",
    "cb_features.yaml": CALLBACK % "feature_extractor: foo",
    "cb_every.yaml": CALLBACK % "every_n_steps: 0",
    "cb_class.yaml": "trainer:\n  callbacks:\n    - class_path: callbacks.NoSuchCallback\n",
    "cb_guidance_nan.yaml": CALLBACK % (SMALL + "guidance_scale: .nan"),
    "cb_guidance.yaml": CALLBACK % (SMALL + "guidance_scale: 2.0"),
    "cb_class_toy.yaml": CALLBACK % (SMALL + "class_labels: 0"),
    "cb_class_digits.yaml": CALLBACK % (SMALL + "class_labels: 10, feature_extractor: identity"),
    "cb_pictures.yaml": CALLBACK % (SMALL + "num_pictures: -1"),
    "cb_huge_samples.yaml": CALLBACK % "num_samples: 100000000000, batch_size: 16",
    "cb_huge_batch.yaml": CALLBACK % "batch_size: 1000000000000",
    "cb_huge_reference.yaml": CALLBACK % "num_reference_samples: 1000000000000",
    "cb_huge_steps.yaml": CALLBACK % "samplers: {h: {name: heun, num_steps: 1000000000}}",
    "cb_restart_range.yaml": CALLBACK % SMALL.replace("{h: {name: heun, num_steps: 2}}",
                                                      "{r: {name: restart, restart_intervals: [[3, 2, 0.5, 1000]]}}"),
}

# (extra arguments, words the error line must contain[, base]); {y}: the YAML directory; {f}: a regular file.
# base: "toy" (tiny_args, fit), "digits" (tiny_digits_args, fit), "predict" (toy predict from the trained run).
KEPT_CASES = [  # from before the hardening issue, some with clearer messages now
    (["--model.preconditioning", "ddim"], ["model.preconditioning", "'ddim'", "edm, vp, ve"]),
    (["--model.loss", "l1"], ["model.loss", "'l1'", "edm, vp, ve"]),
    (["--model.lr", "-1"], ["model.lr", "-1", "a finite number > 0"]),
    (["--model.sigma_data", "0"], ["model.sigma_data", "0", "> 0"]),
    (["--model.P_std", "-1"], ["model.P_std", "-1", "> 0"]),
    (["--model.betas", "[0.9, 1.5]"], ["model.betas", "1.5", "[0, 1)"]),
    (["--model.lr_warmup_steps", "-5"], ["model.lr_warmup_steps", "-5", ">= 0"]),
    (["--model.ema_half_life", "-1"], ["model.ema_half_life", "-1", ">= 0"]),
    (["--model.ema_rampup_ratio", "0"], ["model.ema_rampup_ratio", "0", "> 0"]),
    (["--model.on_nonfinite", "ignore"], ["model.on_nonfinite", "'ignore'", "raise, skip"]),
    (["--model.predict_sampler", "nosuch"], ["model.predict_sampler", "'nosuch'", "heun"]),
    (["--model.net.init_args.width", "-3"], ["model.net.init_args.width", "-3", ">= 2"]),
    (["--model.net.init_args.dim", "3"], ["model.net", "shape [2]", "MLP"]),
    (["--data.init_args.name", "spiral"], ["data.init_args.name", "'spiral'", "grid, ring, moons, checkerboard"]),
    (["--data.init_args.batch_size", "0"], ["data.init_args.batch_size", "0", ">= 1"]),
    (["--data.init_args.steps_per_epoch", "0"], ["data.init_args.steps_per_epoch", "0", ">= 1"]),
    (["--trainer.devices", "0"], ["trainer.devices", "'0'", "'auto', -1"]),
    (["--trainer.devices", "abc"], ["trainer.devices", "'abc'", "list of device indices"]),
    (["--trainer.devices", "[0, -1]"], ["trainer.devices", "[0, -1]", "list of device indices"]),
    (["--trainer.num_nodes", "0"], ["trainer.num_nodes", "0", ">= 1"]),
    (["--trainer.accelerator", "nonsense"], ["accelerator", "'nonsense'", "cpu"]),
    (["--trainer.max_steps", "abc"], ["trainer.max_steps", "int", "'abc'"]),
    (["--trainer.max_steps", "-5"], ["trainer.max_steps", "-5", ">= -1"]),
    (["--checkpoint.every_n_train_steps", "-1"], ["every_n_train_steps", "-1", ">= 0"]),
    (["--no_such_flag", "1"], ["unrecognized arguments", "--no_such_flag"]),
    (["--config", "{y}/missing.yaml"], ["--config", "missing.yaml"]),
    (["--config", "{y}/syntax.yaml"], ["syntax.yaml", "not valid YAML", "line 3"]),
    (["--config", "{y}/list.yaml"], ["list.yaml", "mapping", "list"]),
    (["--config", "{y}/unknown_key.yaml"], ["modle.lr"]),
    (["--config", "{y}/bad_choice.yaml"], ["model.preconditioning", "'xyz'", "edm, vp, ve"]),
    (["--config", "{y}/bad_type.yaml"], ["trainer.max_steps", "int", "'many'"]),
    (["--sampler", "nosuch"], ["--sampler", "'nosuch'", "heun"]),
    (["--sampler", "heun", "--sampler.num_steps", "0"], ["num_steps = 0", "[1, 100000]"]),
    (["--sampler", "heun", "--sampler.nosuchopt", "3"], ["'nosuchopt'", "num_steps, schedule"]),
    (["--sampler.num_steps", "5"], ["--sampler.num_steps", "--sampler <name"]),
    (["--sampler"], ["--sampler", "expected a value"]),
    (["--sampler", "{y}/missing_preset.yaml"], ["--sampler", "missing_preset.yaml"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, 4, 0.5, 0.06]]"], ["t_min", "0.5", "t_max"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, 4, -1, 0.5]]"], ["t_min", "-1", "0 < t_min"]),
    (["--sampler", "heun", "--sampler.sigma_min", "-1"], ["sigma_min", "-1", "> 0"]),
    (["--sampler", "heun", "--sampler.sigma_min", "0.1", "--sampler.sigma_max", "0.01"], ["sigma_max", "0.01"]),
    (["--config", "{y}/cb_num_samples.yaml"], ["num_samples", "0", ">= 1"]),
    (["--config", "{y}/cb_sampler.yaml"], ["SamplerEvaluation.samplers.x", "'nosuch'", "heun"]),
    (["--config", "{y}/cb_restart.yaml"], ["SamplerEvaluation.samplers.r", "t_min", "0.5"]),
    (["--config", "{y}/cb_weights.yaml"], ["SamplerEvaluation.inception_weights", "/nonexistent/pt_inception.pth"]),
    (["--config", "{y}/cb_features.yaml"], ["feature_extractor", "'foo'", "auto, inception, identity"]),
    (["--config", "{y}/cb_every.yaml"], ["every_n_steps", "0", ">= 1"]),
    (["--config", "{y}/cb_class.yaml"], ["trainer.callbacks", "NoSuchCallback"]),
    (["--ckpt_path", "{y}/missing.ckpt"], ["ckpt_path", "missing.ckpt"]),
]
NEW_CASES = [
    # --- 2: non-finite values are refused, not trained or sampled with -------------------------------
    (["--model.ema_half_life", ".nan"], ["model.ema_half_life", "'.nan'", "a finite number >= 0"]),
    (["--model.ema_half_life", "nan"], ["model.ema_half_life", "nan", "a finite number >= 0"]),
    (["--model.ema_half_life", "inf"], ["model.ema_half_life", "inf", "a finite number >= 0"]),
    (["--config", "{y}/ema_nan.yaml"], ["model.ema_half_life", "nan", "a finite number >= 0"]),
    (["--config", "{y}/lr_inf.yaml"], ["model.lr", "inf", "a finite number > 0"]),
    (["--model.lr", "nan"], ["model.lr", "nan", "a finite number > 0"]),
    (["--model.lr", "1e300"], ["model.lr", "1e300", "at most 3.4e38"]),
    (["--model.sigma_data", "inf"], ["model.sigma_data", "inf", "a finite number > 0"]),
    (["--model.P_mean", "nan"], ["model.P_mean", "nan", "a finite number"]),
    (["--model.P_mean", "100"], ["model.P_mean, model.P_std", "100", "|P_mean| + 6 P_std <= 80"]),
    (["--model.P_std", "inf"], ["model.P_std", "inf", "a finite number > 0"]),
    (["--model.eps", "nan"], ["model.eps", "nan", "a finite number > 0"]),
    (["--model.weight_decay=-inf"], ["model.weight_decay", "-inf", "a finite number >= 0"]),
    (["--model.betas", "[0.9, nan]"], ["model.betas", "nan", "[0, 1)"]),
    (["--model.ema_rampup_ratio", "inf"], ["model.ema_rampup_ratio", "inf", "a finite number > 0"]),
    (["--model.net.init_args.label_dropout", "nan"], ["model.net.init_args.label_dropout", "nan", "[0, 1]"]),
    (["--sampler", "heun", "--sampler.rho", ".inf"], ["--sampler.heun", "rho = inf", "a finite number > 0"]),
    (["--sampler", "heun", "--sampler.rho", "1.0e+300"], ["--sampler.heun", "rho = 1e+300", "degenerate grid"]),
    (["--sampler", "edm_sde", "--sampler.S_noise", ".inf"], ["--sampler.edm_sde", "S_noise = inf", "finite"]),
    (["--sampler", "edm_sde", "--sampler.S_noise", ".nan"], ["--sampler.edm_sde", "S_noise = nan", "finite"]),
    (["--sampler", "edm_sde", "--sampler.S_churn", ".inf"], ["S_churn = inf", "a finite number >= 0"]),
    (["--sampler", "restart", "--sampler.restart_gamma", ".nan"], ["restart_gamma = nan", "a finite number"]),
    (["--sampler", "restart", "--sampler.S_noise", ".inf"], ["--sampler.restart", "S_noise = inf", "finite"]),
    (["--sampler", "euler_ancestral", "--sampler.eta", ".inf"], ["eta = inf", "a finite number >= 0"]),
    (["--sampler", "heun", "--sampler.sigma_max", ".inf"], ["sigma_max = inf", "a finite number"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, 2, .nan, 0.5]]"], ["t_min = nan", "a number"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, 2, 0.06, .inf]]"], ["t_max = inf", "finite"]),
    (["--sampler", "{y}/preset_nan.yaml"], ["--sampler.preset_nan", "S_noise = nan", "finite"]),
    (["--config", "{y}/cb_guidance_nan.yaml"], ["guidance_scale", "nan", "a finite number >= 0"]),
    # --- 3: sizes that cannot fit are refused with the estimate -------------------------------------
    (["--sampler", "heun", "--sampler.num_steps", "1000000000"], ["num_steps = 1000000000", "[1, 100000]"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, 1000000000, 0.06, 0.5]]"], ["K = 1000000000"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[[1000, 1000, 0.06, 0.5]]"],
     ["restart_intervals", "here 999000", "at most 100000"]),
    (["--config", "{y}/cb_huge_steps.yaml"], ["SamplerEvaluation.samplers.h", "num_steps = 1000000000"]),
    (["--config", "{y}/cb_huge_samples.yaml"], ["SamplerEvaluation.num_samples", "100000000000", "needs about"]),
    (["--config", "{y}/cb_huge_batch.yaml"], ["SamplerEvaluation.batch_size", "1000000000000", "needs about"]),
    (["--config", "{y}/cb_huge_reference.yaml"], ["num_reference_samples", "1000000000000", "needs about"]),
    (["--model.net.init_args.width", "1000000000000"], ["MLP (dim=2, width=1000000000000", "parameters need about"]),
    (["--model.net.init_args.depth", "1000000000000"], ["MLP (", "depth=1000000000000", "parameters need about"]),
    (["--model.net.init_args.num_classes", "1000000000000"], ["MLP (", "parameters need about"]),
    (["--data.init_args.batch_size", "1000000000000"], ["data.batch_size", "1000000000000", "needs about"]),
    (["--data.init_args.num_val_samples", "1000000000000"], ["data.num_val_samples", "needs about"]),
    (["--data.init_args.num_predict_samples", "100000000000"], ["data.num_predict_samples", "needs about"],
     "predict"),
    (["--data.init_args.resolution", "1000000"], ["data.resolution", "1000000", "needs about"], "digits"),
    (["--model.net.init_args.base_channels", "1000000"], ["UNet (base_channels=1000000", "parameters need"],
     "digits"),
    (["--model.net.init_args.num_blocks", "1000000000"], ["UNet (", "num_blocks=1000000000", "parameters"],
     "digits"),
    # --- 4: what used to end in a traceback --------------------------------------------------------
    (["--sampler", "restart", "--sampler.restart_intervals", "[[3, .inf, 0.06, 0.5]]"], ["K = inf", "an integer"]),
    (["--sampler", "{y}/preset_syntax.yaml"], ["--sampler", "preset_syntax.yaml", "not valid YAML", "line 3"]),
    (["--sampler", "{y}/preset_list.yaml"], ["--sampler", "preset_list.yaml", "not a sampler preset"]),
    (["--sampler", "heun", "--sampler.num_steps", "[1, 2"], ["--sampler.num_steps", "'[1, 2'", "a YAML value"]),
    (["--config", "{y}"], ["--config", "no file at"]),
    (["--config", "{y}/binary.yaml"], ["--config", "binary.yaml"]),
    (["--model.net.init_args.width", "15"], ["MLP.width", "15", "an even integer"]),
    (["--trainer.accumulate_grad_batches", "0"], ["trainer.accumulate_grad_batches", "0", ">= 1"]),
    (["--trainer.check_val_every_n_epoch", "0"], ["trainer.check_val_every_n_epoch", "0", ">= 1"]),
    (["--model.net.init_args.resolution", "-8"], ["model.net.init_args.resolution", "-8", ">= 1"], "digits"),
    (["--data.init_args.resolution", "-8"], ["data.init_args.resolution", "-8", ">= 1"], "digits"),
    (["--model.net.init_args.base_channels", "7"], ["UNet.base_channels", "7", "an even integer"], "digits"),
    (["--model.net.init_args.channel_mult", "[]"], ["UNet.channel_mult", "non-empty"], "digits"),
    (["--model.net.init_args.num_heads", "3"], ["UNet.num_heads", "3", "whole number of heads"], "digits"),
    (["--model.net.init_args.channel_mult", "[1, 1, 1, 1, 1]"], ["UNet.resolution", "8", "multiple of 2^"],
     "digits"),
    # --- 5: knowable before any work, so refused before anything is written --------------------------
    (["--config", "{y}/cb_guidance.yaml"], ["SamplerEvaluation.guidance_scale", "2.0", "class-conditional", "1.0"]),
    (["--config", "{y}/cb_class_toy.yaml"], ["SamplerEvaluation.class_labels", "0", "null"]),
    (["--config", "{y}/cb_class_digits.yaml"], ["SamplerEvaluation.class_labels", "10", "[0, 9]"], "digits"),
    (["--config", "{y}/cb_restart_range.yaml"], ["SamplerEvaluation.samplers.r", "t_max", "sigma_max"]),
    (["--data.init_args.num_predict_samples", "-5"], ["data.init_args.num_predict_samples", "-5", ">= 1"],
     "predict"),
    (["--checkpoint.dirpath", "{f}/checkpoints"], ["checkpoint.dirpath", "is a file", "can be created"]),
    (["--trainer.logger.init_args.save_dir", "{f}/logs"], ["trainer.logger.init_args.save_dir", "is a file"]),
    (["--trainer.logger.init_args.save_dir", "/proc/no_such_dir"], ["trainer.logger.init_args.save_dir",
                                                                   "cannot write into", "/proc/no_such_dir"]),
    # --- 6: messages name the user's field, the value and what is allowed ----------------------------
    (["--model.lr", "abc"], ["model.lr", "'abc'", "a finite number > 0"]),
    (["--model.lr_warmup_steps", "2.5"], ["model.lr_warmup_steps", "2.5", "an integer >= 0"]),
    (["--sampler", "edm_sde", "--sampler.S_noise", "abc"], ["S_noise = 'abc'", "a finite number >= 0"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "5"], ["restart_intervals = 5", "a list of [N_restart"]),
    (["--sampler", "restart", "--sampler.restart_intervals", "[['a', 2, 0.06, 0.5]]"], ["N_restart = 'a'",
                                                                                        "an integer"]),
    (["--sampler", "heun", "--sampler.schedule", "5"], ["schedule = 5", "edm, vp, ve, loglinear"]),
    (["--seed_everything", "-5"], ["seed_everything", "-5", "[0, 4294967295]"]),
    (["--model.predict_sampler", "{name: heun, num_steps: x}"], ["model.predict_sampler", "num_steps = 'x'"]),
    (["--data.init_args.seed", "-1"], ["data.init_args.seed", "-1", "[0, 2**63)"]),
    (["--model.noise_seed", "-1"], ["model.noise_seed", "-1", "[0, 2**63)"]),
    # --- 7: values that were accepted though wrong ---------------------------------------------------
    (["--trainer.gradient_clip_val", "-1"], ["trainer.gradient_clip_val", "-1", "a finite number >= 0"]),
    (["--trainer.gradient_clip_val", ".nan"], ["trainer.gradient_clip_val", "nan", "a finite number >= 0"]),
    (["--trainer.val_check_interval", "0"], ["trainer.val_check_interval", "0", "an integer >= 1"]),
    (["--trainer.val_check_interval", "1.5"], ["trainer.val_check_interval", "1.5", "(0, 1]"]),
    (["--trainer.log_every_n_steps", "-1"], ["trainer.log_every_n_steps", "-1", ">= 0"]),
    (["--trainer.min_steps", "-5"], ["trainer.min_steps", "-5", ">= 0"]),
    (["--trainer.num_sanity_val_steps", "-5"], ["trainer.num_sanity_val_steps", "-5", ">= -1"]),
    (["--trainer.limit_train_batches", "1.5"], ["trainer.limit_train_batches", "1.5", "[0, 1]"]),
    (["--config", "{y}/cb_pictures.yaml"], ["num_pictures", "-1", "an integer >= 0"]),
    (["--model.net.init_args.num_classes", "-1"], ["model.net.init_args.num_classes", "-1", ">= 0"]),
    (["--data.init_args.resolution", "16"], ["model.net.init_args.resolution", "8", "16"], "digits"),
    (["--model.net.init_args.num_classes", "5"], ["model.net.init_args.num_classes", "5", "10 classes"], "digits"),
    (["--model.net.init_args.dropout", "1.0"], ["model.net.init_args.dropout", "1.0", "[0, 1)"], "digits"),
    (["--data.init_args.val_fraction", "1.0"], ["data.init_args.val_fraction", "1.0", "[0, 1)"], "digits"),
]
CASES = KEPT_CASES + NEW_CASES


@pytest.fixture(scope="module")
def yaml_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("yaml")
    for name, text in YAML_FILES.items():
        (directory / name).write_text(text, errors="surrogateescape")
    (directory / "a_file").write_text("not a directory\n")
    return directory


def case_args(extra, base, save_dir, checkpoint):
    if base == "digits":
        return tiny_digits_args(save_dir, 20, 10, *extra)
    if base == "predict":
        return tiny_args(save_dir, 20, 10, "--ckpt_path", str(checkpoint), *extra, command="predict")
    args = tiny_args(save_dir, 20, 10, *extra)
    if any("cb_" in a for a in extra):  # let the YAML's callbacks stand instead of tiny_args' empty list
        i = args.index("--trainer.callbacks")
        del args[i:i + 2]
    return args


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c[0])[:70] for c in CASES])
def test_malformed_input_is_refused_in_one_line(trained_run, trained_checkpoint, yaml_dir, case):
    extra, words, base = case if len(case) == 3 else (*case, "toy")
    fill = {"{y}": str(yaml_dir), "{f}": str(yaml_dir / "a_file")}

    def filled(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    args = case_args([filled(a) for a in extra], base, trained_run, trained_checkpoint)
    assert_refused(args, [filled(w) for w in words], trained_run, yaml_dir)


def test_the_cases_cover_every_class():
    assert len(NEW_CASES) >= 60 and all(isinstance(c[1], list) and c[1] for c in CASES)


def test_help_shows_the_typed_constraints():
    """The constraints are types of the signatures, so --help documents them (and the parser enforces them)."""
    # the model is chosen by class_path (any LightningModule), so its options are listed by --model.help
    code, out, _ = run_cli(["fit", "--model.help", "DiffusionModule"])
    assert code == 0
    text = " ".join(out.split())
    for option, constraint in [("--model.lr", "FinitePositiveFloat"), ("--model.betas", "HalfOpenUnitInterval"),
                               ("--model.ema_half_life", "FiniteNonNegativeFloat"), ("--model.noise_seed", "Seed")]:
        assert f"{option} " in text and constraint in text.rsplit(f"{option} ", 1)[1][:200], option


def test_run_directories_of_earlier_runs_are_refused(trained_run):
    run = trained_run / "toy" / "version_0"
    assert_refused(tiny_args(trained_run, 20, 10, "--trainer.logger.init_args.version", "0"),
                   ["trainer.logger", str(run), "already holds an earlier run"], trained_run)
    assert_refused(tiny_args(trained_run, 20, 10, "--checkpoint.dirpath", str(run / "checkpoints")),
                   ["checkpoint.dirpath", "already holds checkpoints", "--ckpt_path last"], trained_run)
    for command in ("test", "validate", "predict"):
        assert_refused(tiny_args(trained_run, 20, 10, "--trainer.logger.init_args.name", "empty",
                                 "--ckpt_path", "last", command=command),
                       ["ckpt_path", "'last' found no checkpoint", str(trained_run / "empty")], trained_run)


def test_end_to_end_exit_code_and_no_traceback(tmp_path):
    """Through ``python main.py`` (the in-process cases above take the same path): one line on stderr."""
    for extra, words in [(["--model.ema_half_life", ".nan"], ["model.ema_half_life", "'.nan'", "finite"])]:
        started = time.monotonic()
        result, peak = run_main_with_peak_memory(["fit", "--config", TOY, "--trainer.logger.init_args.save_dir",
                                                  str(tmp_path), *extra])
        assert time.monotonic() - started < 120  # mostly the imports
        assert 0 < peak < 2 << 20, peak  # KiB: < 2 GiB, the refused run's own peak
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and all(w in lines[-1] for w in words), lines
        assert len(error_lines(result.stderr)) == 1 and len(lines) <= 2  # at most "Seed set to 0" before it
        assert not any(tmp_path.iterdir())

