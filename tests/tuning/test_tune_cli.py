"""``restart-lightning tune``: presets that ``test --sampler`` accepts, resuming after a kill, one-line refusals."""

import json

import pytest
import yaml

from restart_lightning.sampling import load_sampler_preset
from restart_lightning.tuning import tune as tune_module
from tests.evaluation.helpers import fit_tiny_config
from tests.reliability.helpers import error_lines, run_cli

SMALL = ["--samples_per_rung", "64,128", "--candidates", "4", "--num_blocks", "2", "--batch_size", "128"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return fit_tiny_config(tmp_path_factory.mktemp("tune_run"))


def tune(config, ckpt, out, *extra):
    return run_cli(["tune", "--config", str(config), "--ckpt_path", str(ckpt), "--output_dir", str(out), *SMALL,
                    *extra])


def test_tune_writes_presets_that_test_accepts(tiny_run, tmp_path):
    config, ckpt = tiny_run
    out = tmp_path / "tuned"
    code, stdout, err = tune(config, ckpt, out, "--budgets", "15", "--family", "restart", "--band", "0.05,0.3")
    assert code == 0, err[-3000:]
    assert "rung 2/2" in stdout and "restart @ 15 NFE: kl" in stdout  # progress and the result lines
    for budget in (15,):
        path = out / f"restart_nfe{budget}.yaml"
        header = [line for line in path.read_text().splitlines() if line.startswith("#")]
        assert any("Metric: kl" in line and "4 on 64, 1 on 128" in line for line in header)
        assert any("Tuning seeds 1000000000..1000000127" in line for line in header)
        assert any("seed blocks of 64" in line for line in header) and any("NFE:" in line for line in header)
        record = json.loads((out / f"restart_nfe{budget}.done.json").read_text())
        assert load_sampler_preset(path).plan().nfe == record["nfe"] <= budget
    table = (out / "restart_table.md").read_text()
    assert "| 15 | " in table
    code, stdout, err = run_cli(["test", "--config", str(config), "--ckpt_path", str(ckpt),
                                 "--sampler", str(out / "restart_nfe15.yaml")])
    assert code == 0, err[-3000:]
    assert "restart_nfe15" in stdout


class Killed(Exception):
    pass


def test_a_killed_tune_resumes_and_skips_finished_budgets(tiny_run, tmp_path, monkeypatch):
    config, ckpt = tiny_run
    out = tmp_path / "tuned"
    calls = []
    original = tune_module.SampleScorer.__call__

    def counting(limit):
        def call(self, spec, seeds):
            if len(calls) == limit:
                raise Killed()
            calls.append((json.dumps(spec, sort_keys=True), seeds.start, seeds.stop))
            return original(self, spec, seeds)

        return call

    args = ("--budgets", "7,11", "--family", "edm_sde")
    monkeypatch.setattr(tune_module.SampleScorer, "__call__", counting(9))  # budget 7 done (4 + 1 + 1), 11 half
    with pytest.raises(Killed):
        tune(config, ckpt, out, *args)
    assert (out / "edm_sde_nfe7.yaml").exists() and not (out / "edm_sde_nfe11.yaml").exists()
    monkeypatch.setattr(tune_module.SampleScorer, "__call__", counting(10**6))
    code, stdout, err = tune(config, ckpt, out, *args)
    assert code == 0, err[-3000:]
    assert "edm_sde @ 7 NFE: finished before" in stdout
    assert len(calls) == 2 * (4 + 1 + 1) and len(set(calls)) == len(calls)  # nothing evaluated twice
    assert (out / "edm_sde_nfe11.yaml").exists()
    code, stdout, err = tune(config, ckpt, out, *args)  # all finished: no evaluation at all
    assert code == 0 and len(calls) == 12


@pytest.mark.parametrize(("extra", "message"), [
    (["--family", "ddim"], "family: unknown value 'ddim'; allowed: restart, edm_sde"),
    (["--family", "restart", "--budgets", "4,50"], "budgets: 4 is below the smallest NFE of restart (5)"),
    (["--budgets", "50,x"], "budgets: 'x' in '50,x' is not an integer"),
    (["--metric", "fidd"], "metric: unknown value 'fidd'; allowed: fid"),
    (["--metric", "fid"], "metrics: 'fid' is not available for ToyDataModule"),
    (["--band", "0.3,0.05"], "band: '0.3,0.05' is invalid; allowed: two sigmas low,high"),
])
def test_bad_input_is_one_line_before_anything_is_written(tiny_run, tmp_path, extra, message):
    config, ckpt = tiny_run
    out = tmp_path / "tuned"
    code, _, err = tune(config, ckpt, out, *extra)
    assert code == 2 and len(error_lines(err)) == 1, err[-2000:]
    assert message in error_lines(err)[0]
    assert not out.exists()


def test_tune_needs_a_checkpoint(tiny_run, tmp_path):
    config, _ = tiny_run
    code, _, err = run_cli(["tune", "--config", str(config), "--output_dir", str(tmp_path / "tuned")])
    assert code == 2 and "ckpt_path: tune needs a checkpoint" in error_lines(err)[0]
    assert not (tmp_path / "tuned").exists()


def test_a_folder_of_another_run_is_refused(tiny_run, tmp_path):
    config, ckpt = tiny_run
    out = tmp_path / "tuned"
    out.mkdir()
    (out / "tune_settings.json").write_text(json.dumps({"family": "edm_sde", "metric": "nll"}))
    code, _, err = tune(config, ckpt, out, "--budgets", "7", "--family", "edm_sde")
    assert code == 2 and "output_dir:" in error_lines(err)[0] and "metric = 'nll'" in error_lines(err)[0]
    assert yaml.safe_load((out / "tune_settings.json").read_text()) == {"family": "edm_sde", "metric": "nll"}
