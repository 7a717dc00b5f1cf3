"""Sampler specs (names, presets, dicts, sweeps), the --sampler shortcut and per-rank shares."""

from pathlib import Path

import pytest

from restart_lightning.evaluation.shares import count_label, rank_share
from restart_lightning.sampler_args import build_cli_samplers, rewrite_sampler_args
from restart_lightning.sampling.registry import parse_sampler_specs

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "samplers"


def test_names_presets_and_dicts():
    preset = str(PRESETS / "restart_cifar10_edm_nfe43.yaml")
    named = parse_sampler_specs({"a": "heun", "b": preset, "c": {"name": "euler", "num_steps": 7}})
    assert [n.label for n in named] == ["a", "b", "c"]
    assert [n.family for n in named] == ["heun", "restart", "euler"]
    assert named[1].sampler.plan().nfe == 43 and named[2].sampler.plan().nfe == 7


def test_sweep_expands_into_one_sampler_per_value():
    named = parse_sampler_specs({"heun": {"name": "heun", "sweep": {"num_steps": [3, 5, 9]}}})
    assert [n.label for n in named] == ["heun_num_steps3", "heun_num_steps5", "heun_num_steps9"]
    assert [n.sampler.plan().nfe for n in named] == [5, 9, 17]


@pytest.mark.parametrize(
    "specs, message",
    [
        ({"x": "nope"}, "valid names: restart, heun"),
        ({"x": {"name": "heun", "S_churn": 3}}, "unknown option 'S_churn'"),
        ({"x": {"name": "restart", "restart_intervals": [[1, 2, 0.1, 0.3]]}}, "N_restart"),
        ({"x": "missing.yaml"}, "does not exist"),
        ({"x": "restart"}, r"x: restart_intervals = \[\] is invalid; allowed: at least one"),  # not Heun in disguise
        ({"x": {"name": "heun", "sweep": {"num_steps": []}}}, "sweep"),
        ({}, "at least one sampler"),
    ],
)
def test_bad_specs_name_the_field(specs, message):
    with pytest.raises(ValueError, match=message):
        parse_sampler_specs(specs)


def test_sampler_shorthand_becomes_one_typed_argument():
    import yaml

    rewritten = rewrite_sampler_args(
        ["test", "--config", "c.yaml", "--sampler", "restart", "--sampler.num_steps", "9",
         "--sampler.restart_intervals=[[3, 1, 0.1, 0.5]]", "--sampler=heun", "--trainer.devices", "1",
         "--sampler", str(PRESETS / "restart_cifar10_edm_nfe43.yaml"), "--sampler", "heun"]
    )
    assert rewritten[:3] == ["test", "--config", "c.yaml"] and rewritten[4:] == ["--trainer.devices", "1"]
    key, _, value = rewritten[3].partition("=")
    mapping = yaml.safe_load(value)  # YAML flow style (a number stays a number, inf included)
    assert key == "--sampler" and list(mapping) == ["restart", "heun", "restart_cifar10_edm_nfe43", "heun_3"]
    assert mapping["restart"] == {"name": "restart", "num_steps": 9, "restart_intervals": [[3, 1, 0.1, 0.5]]}
    # The preset is inlined (its options, not its path), so a saved config replays it anywhere.
    assert mapping["restart_cifar10_edm_nfe43"]["restart_intervals"] == [[3, 2, 0.14, 0.3]]
    named = build_cli_samplers(mapping)
    assert [n.label for n in named] == list(mapping)
    assert named[0].sampler.plan().nfe == 17 + 2 * 1 * 2 and named[2].sampler.plan().nfe == 43


def test_sampler_mapping_and_null_pass_through():
    assert rewrite_sampler_args(["fit", "--sampler", "{a: heun}"]) == ["fit", "--sampler={a: heun}"]
    assert rewrite_sampler_args(["fit", "--sampler=null"]) == ["fit", "--sampler=null"]
    assert rewrite_sampler_args(["fit", "--model.lr", "1"]) == ["fit", "--model.lr", "1"]
    assert build_cli_samplers(None) == []


def test_sampler_option_without_sampler_is_refused():
    with pytest.raises(ValueError, match="give --sampler"):
        rewrite_sampler_args(["--sampler.num_steps", "3"])


@pytest.mark.parametrize("n", [1, 7, 100, 1001])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shares_cover_every_index_once(n, world):
    indices = [i for rank in range(world) for i in rank_share(n, rank, world)]
    assert indices == list(range(n))


def test_count_label():
    assert (count_label(10_000), count_label(50_000), count_label(4096)) == ("10k", "50k", "4096")


def test_reference_cache_path_depends_on_the_data_and_features():
    from restart_lightning.data import ToyDataModule
    from restart_lightning.evaluation.metric_suite import reference_cache_path

    grid = reference_cache_path(ToyDataModule(name="grid"), "identity", 1000)
    assert grid == reference_cache_path(ToyDataModule(name="grid", batch_size=7), "identity", 1000)
    assert grid != reference_cache_path(ToyDataModule(name="ring"), "identity", 1000)
    assert grid != reference_cache_path(ToyDataModule(name="grid"), "inception", 1000)
    assert grid != reference_cache_path(ToyDataModule(name="grid"), "identity", 2000)
