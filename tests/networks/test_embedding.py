"""Noise-level and label embeddings against their formulas written out here."""

from __future__ import annotations

import math

import pytest
import torch

from restart_lightning.networks.embedding import LabelEmbedding, PositionalEmbedding
from restart_lightning.networks.unet_layers import PositionalEmbedding as UNetPositionalEmbedding


def sinusoidal(c: list[float], channels: int, denominator: int, max_period: float = 10000.0) -> torch.Tensor:
    """[cos(c f_k), sin(c f_k)] with f_k = max_period^(-k / denominator), in float64 from Python floats."""
    half = channels // 2
    rows = []
    for value in c:
        angles = [value * max_period ** (-k / denominator) for k in range(half)]
        rows.append([math.cos(a) for a in angles] + [math.sin(a) for a in angles])
    return torch.tensor(rows, dtype=torch.float64)


C = [-3.0, -0.25, 0.0, 0.7, 2.5]


def test_mlp_embedding_is_the_transformer_formula():
    """The MLP's frequencies run k / half (they stop short of 1 / max_period)."""
    got = PositionalEmbedding(16)(torch.tensor(C))
    assert got.shape == (5, 16) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), sinusoidal(C, 16, denominator=8), rtol=0, atol=2e-6)


def test_unet_embedding_is_the_ddpmpp_formula():
    """The U-Net's frequencies run k / (half - 1), from 1 down to exactly 1 / max_period (DDPM++/ADM)."""
    got = UNetPositionalEmbedding(16)(torch.tensor(C, dtype=torch.float64))
    assert got.shape == (5, 16) and got.dtype == torch.float64
    torch.testing.assert_close(got, sinusoidal(C, 16, denominator=7), rtol=0, atol=2e-6)


def test_odd_channels_are_refused():
    with pytest.raises(ValueError, match="even"):
        PositionalEmbedding(7)
    with pytest.raises(ValueError, match="even"):
        UNetPositionalEmbedding(7)


def test_label_embedding_rows_and_null_row():
    embedding = LabelEmbedding(num_classes=3, channels=4).eval()
    table = embedding.table.weight
    got = embedding(torch.tensor([2, -1, 0]), 3, torch.device("cpu"))
    assert torch.equal(got, table[[2, 3, 0]])  # -1 is the last row
    assert torch.equal(embedding(None, 2, torch.device("cpu")), table[[3, 3]])


def test_label_dropout_replaces_labels_by_the_null_row_while_training():
    embedding = LabelEmbedding(num_classes=3, channels=4, label_dropout=1.0)
    null = embedding.table.weight[3]
    assert torch.equal(embedding.train()(torch.tensor([0, 1]), 2, torch.device("cpu")), null.expand(2, 4))
    assert torch.equal(embedding.eval()(torch.tensor([0, 1]), 2, torch.device("cpu")), embedding.table.weight[:2])
    with pytest.raises(ValueError, match="label_dropout"):
        LabelEmbedding(3, 4, label_dropout=1.5)


def test_frequencies_are_not_saved_so_checkpoints_load_into_the_same_outputs():
    """The frequency formula is shared; the weights files hold no frequencies, only learned tables."""
    from restart_lightning.networks import MLP
    from restart_lightning.networks.unet import UNet

    torch.manual_seed(0)
    unet = dict(resolution=8, in_channels=1, base_channels=8, channel_mult=[1], num_blocks=1, attn_resolutions=[],
                dropout=0.0, num_classes=3)
    for make, x in ((lambda: MLP(width=8, depth=1, num_classes=3), torch.randn(3, 2)),
                    (lambda: UNet(**unet), torch.randn(3, 1, 8, 8))):
        trained = make().eval()
        state = trained.state_dict()
        assert not [key for key in state if "freqs" in key]
        restored = make().eval()
        restored.load_state_dict(state, strict=True)
        c, labels = torch.tensor([-1.0, 0.2, 3.0]), torch.tensor([0, -1, 2])
        assert torch.equal(restored(x, c, labels), trained(x, c, labels))
