"""Sampler specs (names, presets, dicts, sweeps), the --sampler shortcut and per-rank shares."""

from pathlib import Path

import pytest

from restart_lightning.evaluation.shares import count_label, rank_share
from restart_lightning.evaluation.specs import parse_sampler_specs
from restart_lightning.sampler_args import build_cli_samplers, split_sampler_args

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
        ({"x": {"name": "heun", "sweep": {"num_steps": []}}}, "sweep"),
        ({}, "at least one sampler"),
    ],
)
def test_bad_specs_name_the_field(specs, message):
    with pytest.raises(ValueError, match=message):
        parse_sampler_specs(specs)


def test_split_sampler_args():
    rest, specs = split_sampler_args(
        ["test", "--config", "c.yaml", "--sampler", "restart", "--sampler.num_steps", "9",
         "--sampler.restart_intervals=[[3, 1, 0.1, 0.5]]", "--sampler=heun", "--trainer.devices", "1"]
    )
    assert rest == ["test", "--config", "c.yaml", "--trainer.devices", "1"]
    assert specs == [
        {"spec": "restart", "options": {"num_steps": 9, "restart_intervals": [[3, 1, 0.1, 0.5]]}},
        {"spec": "heun", "options": {}},
    ]
    named = build_cli_samplers(specs)
    assert [n.label for n in named] == ["restart", "heun"]
    assert named[0].sampler.plan().nfe == 17 + 2 * 1 * 2


def test_sampler_option_without_sampler_is_refused():
    with pytest.raises(ValueError, match="give --sampler"):
        split_sampler_args(["--sampler.num_steps", "3"])


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
