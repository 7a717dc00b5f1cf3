"""The U-Net: published sizes, shapes, conditioning, channels_last, and that it learns."""

from __future__ import annotations

import math

import pytest
import torch

from restart_lightning.networks.unet import UNet, adm_imagenet64, ddpmpp_cifar10

pytestmark = pytest.mark.usefixtures("one_thread")


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def tiny(resolution: int = 8, in_channels: int = 3, **kw) -> UNet:
    args = dict(base_channels=8, channel_mult=(1, 2), num_blocks=1, attn_resolutions=(resolution // 2,), dropout=0.0)
    args.update(kw)
    return UNet(resolution=resolution, in_channels=in_channels, **args)


def perturb_(net: torch.nn.Module, std: float = 0.05, seed: int = 0) -> None:
    """Make the zero-initialised layers non-zero so that every input reaches the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * std)


def test_ddpmpp_cifar10_parameter_count():
    with torch.device("meta"):
        net = ddpmpp_cifar10()
    assert abs(count(net) - 56e6) / 56e6 < 0.02  # EDM: 55.7M


def test_adm_imagenet64_parameter_count():
    with torch.device("meta"):
        net = adm_imagenet64()
    assert abs(count(net) - 296e6) / 296e6 < 0.02  # EDM: 295.9M
    assert net.num_classes == 1000


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_shapes(in_channels, resolution):
    net = tiny(resolution, in_channels, num_classes=4)
    x = torch.randn(2, in_channels, resolution, resolution)
    out = net(x, torch.randn(2), torch.tensor([0, -1]))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.equal(out, torch.zeros_like(out))  # last conv is zero-initialised, as in EDM


def test_out_channels_scalar_noise_and_three_levels():
    net = tiny(16, 3, out_channels=6, channel_mult=(1, 2, 2), embedding_type="fourier")
    perturb_(net)
    out = net(torch.randn(3, 3, 16, 16), torch.tensor(0.3))
    assert out.shape == (3, 6, 16, 16) and torch.isfinite(out).all()


def test_invalid_resolution():
    with pytest.raises(ValueError, match=r"UNet.resolution: invalid value 10; allowed: a multiple of 2\^"):
        UNet(resolution=10, channel_mult=(1, 2, 2))


def test_labels_change_the_output():
    net = tiny(num_classes=3).eval()
    perturb_(net)
    x, c = torch.randn(2, 3, 8, 8), torch.randn(2)
    a = net(x, c, torch.tensor([0, 1]))
    b = net(x, c, torch.tensor([2, 0]))
    null = net(x, c, torch.tensor([-1, -1]))
    assert not torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, null, atol=1e-4)
    torch.testing.assert_close(net(x, c, None), null)  # no labels = the null class


def test_unconditional_network_ignores_labels():
    net = tiny().eval()
    perturb_(net)
    x, c = torch.randn(2, 3, 8, 8), torch.randn(2)
    torch.testing.assert_close(net(x, c, torch.tensor([0, 1])), net(x, c))


def test_label_dropout():
    x, c, labels = torch.randn(4, 3, 8, 8), torch.randn(4), torch.tensor([0, 1, 2, 0])
    net = tiny(num_classes=3, label_dropout=1.0)
    perturb_(net)
    net.train()  # dropout=0 in the blocks: training mode only drops labels
    torch.testing.assert_close(net(x, c, labels), net(x, c, torch.full_like(labels, -1)))
    net.eval()  # no label dropout at evaluation
    assert not torch.allclose(net(x, c, labels), net(x, c, torch.full_like(labels, -1)), atol=1e-4)


def test_noise_level_changes_the_output():
    net = tiny().eval()
    perturb_(net)
    x = torch.randn(2, 3, 8, 8)
    assert not torch.allclose(net(x, torch.zeros(2)), net(x, torch.ones(2)), atol=1e-4)


@pytest.mark.parametrize("adm_style", [False, True])
def test_channels_last_matches_contiguous(adm_style):
    kw = dict(adaptive_scale=True, skip_scale=1.0, resample_proj=False, decoder_attn_all_blocks=True,
              channels_per_head=8) if adm_style else {}
    net = tiny(16, 3, channel_mult=(1, 2, 2), num_classes=2, **kw).eval()
    perturb_(net)
    x, c, y = torch.randn(2, 3, 16, 16), torch.randn(2), torch.tensor([1, -1])
    expected = net(x, c, y)
    net = net.to(memory_format=torch.channels_last)
    got = net(x.to(memory_format=torch.channels_last), c, y)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_tiny_unet_learns_with_edm_loss():
    """~30 Adam steps of the EDM loss on structured images lower the loss on a fixed batch."""
    torch.manual_seed(0)
    sigma_data = 0.5
    # Structured data: random-phase oriented stripes in [-1, 1].
    grid = torch.linspace(0, 2 * math.pi, 8)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")

    def data(n: int, gen: torch.Generator) -> torch.Tensor:
        phase = torch.rand(n, 1, 1, generator=gen) * 2 * math.pi
        vertical = (torch.rand(n, 1, 1, generator=gen) < 0.5).float()
        img = torch.sin(vertical * xx + (1 - vertical) * yy + phase)
        return img[:, None].repeat(1, 3, 1, 1) * 0.8

    def edm_loss(net, y, sigma, noise):
        s = sigma[:, None, None, None]
        c_skip = sigma_data**2 / (s**2 + sigma_data**2)
        c_out = s * sigma_data / (s**2 + sigma_data**2).sqrt()
        c_in = 1 / (s**2 + sigma_data**2).sqrt()
        x = y + s * noise
        d = c_skip * x + c_out * net(c_in * x, sigma.log() / 4)
        weight = (s**2 + sigma_data**2) / (s * sigma_data) ** 2
        return (weight * (d - y) ** 2).mean()

    net = tiny(8, 3, base_channels=16)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(1)
    y_eval = data(64, gen)
    sigma_eval = (torch.randn(64, generator=gen) * 1.2 - 1.2).exp()
    noise_eval = torch.randn(y_eval.shape, generator=gen)
    with torch.no_grad():
        before = edm_loss(net, y_eval, sigma_eval, noise_eval).item()
    for _ in range(30):
        y = data(32, gen)
        sigma = (torch.randn(32, generator=gen) * 1.2 - 1.2).exp()
        loss = edm_loss(net, y, sigma, torch.randn(y.shape, generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = edm_loss(net, y_eval, sigma_eval, noise_eval).item()
    assert after < 0.85 * before, (before, after)
