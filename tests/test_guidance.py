"""Classifier-free guidance: the formula, one batched pass, the w = 0 / 1 shortcuts, attributes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from restart_lightning.guidance import GuidedDenoiser

pytestmark = pytest.mark.usefixtures("one_thread")


class ToyDenoiser(nn.Module):
    """D(x, sigma, labels) = x / (1 + sigma^2) + table[label] (row 0 = null class); counts calls."""

    sigma_min, sigma_max, sigma_data = 0.002, 80.0, 0.5

    def __init__(self, num_classes: int = 3, dim: int = 4) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(num_classes + 1, dim, generator=torch.Generator().manual_seed(0)))
        self.calls: list[int] = []

    def forward(self, x, sigma, labels=None):
        self.calls.append(x.shape[0])
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        return x / (1 + sigma**2) + self.table[labels + 1].reshape(x.shape[0], -1, 1, 1)


def inputs(batch: int = 3):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 4, 2, 2, generator=gen)
    sigma = torch.rand(batch, generator=gen) * 5 + 0.1
    labels = torch.tensor([0, 2, -1])[:batch]
    return x, sigma, labels


def test_scale_one_is_the_conditional_denoiser():
    d = ToyDenoiser()
    guided = GuidedDenoiser(d, 1.0)
    x, sigma, labels = inputs()
    out = guided(x, sigma, labels)
    assert torch.equal(out, d(x, sigma, labels))
    assert d.calls == [3, 3] and guided.nfe_per_call == 1


def test_scale_zero_is_the_unconditional_denoiser():
    d = ToyDenoiser()
    x, sigma, labels = inputs()
    out = GuidedDenoiser(d, 0.0)(x, sigma, labels)
    assert torch.equal(out, d(x, sigma, torch.full_like(labels, -1)))


@pytest.mark.parametrize("w", [0.5, 2.5])
@pytest.mark.parametrize("sigma_kind", ["per_sample", "scalar", "broadcast"])
def test_formula_with_one_batched_pass(w, sigma_kind):
    d = ToyDenoiser()
    guided = GuidedDenoiser(d, w)
    x, sigma, labels = inputs()
    sigma = {"per_sample": sigma, "scalar": 1.7, "broadcast": sigma[:, None, None, None]}[sigma_kind]
    out = guided(x, sigma, labels)
    assert d.calls == [6] and guided.nfe_per_call == 2  # one forward pass over 2B
    cond = d(x, sigma, labels)
    uncond = d(x, sigma, torch.full_like(labels, -1))
    torch.testing.assert_close(out, uncond + w * (cond - uncond))


def test_works_with_the_unet():
    from restart_lightning.networks.unet import UNet

    net = UNet(resolution=8, in_channels=1, base_channels=8, channel_mult=(1, 2), num_blocks=1,
               attn_resolutions=(4,), dropout=0.0, num_classes=3).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x, c, labels = torch.randn(2, 1, 8, 8), torch.randn(2), torch.tensor([1, 2])
    with torch.no_grad():
        out = GuidedDenoiser(net, 3.0)(x, c, labels)
        cond, uncond = net(x, c, labels), net(x, c, torch.full_like(labels, -1))
    torch.testing.assert_close(out, uncond + 3.0 * (cond - uncond), atol=1e-5, rtol=1e-4)


def test_forwards_sigma_attributes_and_needs_labels():
    guided = GuidedDenoiser(ToyDenoiser(), 2.0)
    assert (guided.sigma_min, guided.sigma_max, guided.sigma_data) == (0.002, 80.0, 0.5)
    with pytest.raises(ValueError, match="labels"):
        guided(*inputs()[:2])
