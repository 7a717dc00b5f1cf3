"""Scoring a spec with the evaluation's metrics: the toy suite's kl, the model's context, signs, divergence."""

import math

import pytest

from restart_lightning.data import ToyDataModule
from restart_lightning.evaluation.metric_suite import build_metric_suite
from restart_lightning.networks import MLP
from restart_lightning.preconditioning import Denoiser, build_preconditioning
from restart_lightning.tuning.tune import SampleScorer, model_context
from restart_lightning.tuning.tune_run import default_metric


@pytest.fixture(scope="module")
def toy():
    data = ToyDataModule(name="grid")
    return data, data.mixture.denoiser()


def scorer(data, denoiser, metric, **options):
    suite = build_metric_suite(data, num_samples=400, names=[metric], num_reference_samples=2000)
    return SampleScorer(denoiser, suite, metric, shape=data.data_shape, batch_size=200, device="cpu", **options)


def test_the_toy_suite_has_kl_and_tune_defaults_to_it(toy):
    data, denoiser = toy
    assert default_metric(data) == "kl"
    assert "kl" in build_metric_suite(data, num_samples=100, num_reference_samples=500)
    value = scorer(data, denoiser, "kl")({"name": "heun", "num_steps": 20}, range(10**9, 10**9 + 400))
    assert 0 < value < 0.5  # the exact denoiser: near the floor of 400 samples


def test_higher_is_better_metrics_are_negated(toy):
    data, denoiser = toy
    value = scorer(data, denoiser, "mode_coverage")({"name": "heun", "num_steps": 20}, range(400))
    assert value == -1.0


def test_a_divergence_on_any_process_scores_inf_everywhere(toy):
    data, denoiser = toy
    votes = []

    def reduce_any(flag):
        votes.append(flag)
        return True  # another process diverged

    score = scorer(data, denoiser, "kl", reduce_any=reduce_any)
    assert score({"name": "heun", "num_steps": 5}, range(100)) == math.inf and votes == [False]


def test_share_of_a_process_and_the_models_context(toy):
    data, denoiser = toy
    calls = []
    score = scorer(data, denoiser, "kl", rank=1, world_size=2)
    score.suite.update = lambda samples, labels=None: calls.append(samples.shape[0])
    score.suite.compute = lambda: {"kl": 0.5}
    assert score({"name": "heun", "num_steps": 3}, range(10**9, 10**9 + 300)) == 0.5
    assert sum(calls) == 150 == score.samples_drawn  # the second half of the seeds
    net = Denoiser(MLP(dim=2, width=8, depth=1), build_preconditioning("edm", 1.4))
    context = model_context(net, (0.05, 0.3))
    assert (context.sigma_min, context.sigma_max, context.sigma_data, context.band) == (0.002, 80.0, 1.4, (0.05, 0.3))
