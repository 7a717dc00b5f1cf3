"""The toy MLP: shapes, its parameter count formula, conditioning and label dropout."""

from __future__ import annotations

import pytest
import torch

from restart_lightning.networks.mlp import MLP, mlp_parameter_count


@pytest.mark.parametrize("dim, width, depth, num_classes", [(2, 64, 4, 0), (3, 8, 1, 0), (2, 16, 2, 5)])
def test_output_shape_and_parameter_count(dim, width, depth, num_classes):
    torch.manual_seed(0)
    net = MLP(dim=dim, width=width, depth=depth, num_classes=num_classes)
    x, c = torch.randn(7, dim), torch.randn(7)
    labels = torch.arange(7) % num_classes if num_classes else None
    assert net(x, c, labels).shape == (7, dim)
    assert sum(p.numel() for p in net.parameters()) == mlp_parameter_count(dim, width, depth, num_classes)


def test_the_noise_level_and_labels_change_the_output():
    torch.manual_seed(0)
    net = MLP(width=16, depth=2, num_classes=3).eval()
    x, c = torch.randn(4, 2), torch.full((4,), 0.3)
    labels = torch.tensor([0, 1, 2, 0])
    out = net(x, c, labels)
    assert not torch.allclose(out, net(x, c + 1, labels))
    assert not torch.allclose(out, net(x, c, (labels + 1) % 3))
    # -1 and no labels are the same null class
    torch.testing.assert_close(net(x, c), net(x, c, torch.full((4,), -1)), rtol=0, atol=0)


def test_label_dropout_only_while_training():
    torch.manual_seed(0)
    net = MLP(width=16, depth=1, num_classes=3, label_dropout=1.0)
    x, c, labels = torch.randn(4, 2), torch.zeros(4), torch.tensor([0, 1, 2, 0])
    unconditional = net.eval()(x, c)
    torch.testing.assert_close(net.train()(x, c, labels), unconditional, rtol=0, atol=0)  # every label dropped
    assert not torch.allclose(net.eval()(x, c, labels), unconditional)


def test_odd_width_is_refused():
    with pytest.raises(ValueError, match="MLP.width"):
        MLP(width=7)
