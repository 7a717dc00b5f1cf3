"""The toy network of the Restart paper: an MLP with latent width 64 over 2-D points."""

from __future__ import annotations

from torch import Tensor, nn

from restart_lightning.constraints import (
    IntegerAtLeastTwo,
    NonNegativeInteger,
    PositiveInteger,
    UnitInterval,
    check_arguments,
)
from restart_lightning.memory import check_parameter_memory
from restart_lightning.networks.embedding import LabelEmbedding, PositionalEmbedding


def mlp_parameter_count(dim: int, width: int, depth: int, num_classes: int = 0) -> int:
    """Parameters of ``MLP(dim, width, depth, num_classes)`` (checked against a built one in the tests)."""
    linear = width * width + width
    embedding = 2 * linear + (num_classes + 1) * width * (num_classes > 0)
    blocks = depth * (3 * linear + 2 * width)
    return embedding + (dim + 1) * width + blocks + 2 * width + (width + 1) * dim


class ResidualBlock(nn.Module):
    """h + Linear(SiLU(Linear(SiLU(norm h)) + emb)): the noise level modulates every block."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.emb = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.SiLU()

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        z = self.fc1(self.act(self.norm(h))) + self.emb(emb)
        return h + self.fc2(self.act(z))


class MLP(nn.Module):
    """F(x_in, c_noise, labels) for low-dimensional data.

    Args:
        dim: data dimension (2 for the toy distributions).
        width: latent width (the paper's toy experiments use 64).
        depth: number of residual blocks.
        num_classes: number of classes for conditioning (0: unconditional).
        label_dropout: probability of dropping a label during training (for guidance).
    """

    def __init__(
        self,
        dim: PositiveInteger = 2,
        width: IntegerAtLeastTwo = 64,
        depth: PositiveInteger = 4,
        num_classes: NonNegativeInteger = 0,
        label_dropout: UnitInterval = 0.0,
    ) -> None:
        super().__init__()
        check_arguments(MLP.__init__, locals(), "MLP")
        if width % 2:
            raise ValueError(f"MLP.width: invalid value {width}; allowed: an even integer >= 2 (sinusoidal embedding)")
        check_parameter_memory(
            f"MLP (dim={dim}, width={width}, depth={depth}, num_classes={num_classes})",
            mlp_parameter_count(dim, width, depth, num_classes),
        )
        self.num_classes = num_classes
        self.noise_embedding = nn.Sequential(
            PositionalEmbedding(width), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width)
        )
        self.label_embedding = LabelEmbedding(num_classes, width, label_dropout) if num_classes > 0 else None
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(ResidualBlock(width) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None) -> Tensor:
        emb = self.noise_embedding(c_noise)
        if self.label_embedding is not None:
            emb = emb + self.label_embedding(labels, x.shape[0], x.device)
        emb = nn.functional.silu(emb)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)
