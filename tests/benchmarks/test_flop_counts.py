"""benchmarks/_flops.py counts what a hand count gives: 2 * in * out FLOPs per linear layer and sample."""

import pytest
import torch
from _flops import count_flops, evaluation_flops, flops_columns, gpu_peak_flops, training_step_flops
from torch import nn

from restart_lightning.losses import build_loss
from restart_lightning.networks import MLP
from restart_lightning.preconditioning import Denoiser, build_preconditioning

SIZES = [(3, 32), (32, 16), (16, 5)]  # (in, out) of each linear layer
BATCH = 7


def sequential():
    layers = []
    for i, (n_in, n_out) in enumerate(SIZES):
        layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(SIZES) - 1 else [])
    return nn.Sequential(*layers)


def test_forward_and_backward_of_an_mlp_match_the_hand_count(one_thread):
    net, x = sequential(), torch.randn(BATCH, SIZES[0][0])
    forward = sum(2 * BATCH * n_in * n_out for n_in, n_out in SIZES)
    with torch.no_grad():
        assert count_flops(lambda: net(x)) == forward
    # backward: every weight's gradient (2 B in out) and every input's gradient but the data's
    backward = forward + sum(2 * BATCH * n_in * n_out for n_in, n_out in SIZES[1:])
    assert count_flops(lambda: net(x).square().sum().backward()) == forward + backward


def test_denoiser_evaluation_and_training_step_counts(one_thread):
    denoiser = Denoiser(MLP(2, 16, 2), build_preconditioning("edm", 1.0))
    linears = [m for m in denoiser.modules() if isinstance(m, nn.Linear)]
    hand = sum(2 * BATCH * m.in_features * m.out_features for m in linears)  # each linear once per evaluation
    assert evaluation_flops(denoiser, (2,), BATCH) == hand
    train = training_step_flops(denoiser, build_loss("edm", sigma_data=1.0), torch.randn(BATCH, 2))
    assert 2 * hand < train <= 3 * hand  # weight gradients for all, input gradients for most
    assert all(p.grad is None for p in denoiser.parameters())


def test_peaks_and_columns():
    assert gpu_peak_flops("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.4e12)
    assert gpu_peak_flops("NVIDIA H100 PCIe", "fp32") == pytest.approx(51e12)
    assert gpu_peak_flops("NVIDIA A10", "tf32") == pytest.approx(62.5e12)
    assert gpu_peak_flops("NVIDIA A100-SXM4-80GB", "tf32") == pytest.approx(156e12)
    assert gpu_peak_flops("Tesla V100-SXM2-16GB", "bf16") is None
    assert gpu_peak_flops("Some Future GPU", "fp32") is None
    with pytest.raises(ValueError, match="precision: invalid value 'fp8'"):
        gpu_peak_flops("NVIDIA H100", "fp8")
    assert flops_columns(2e9, 2.0, 4e9) == ["1 GFLOP/s", "25.0%"]
