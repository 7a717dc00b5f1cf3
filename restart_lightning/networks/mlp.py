"""The toy network of the Restart paper: an MLP with latent width 64 over 2-D points."""

from __future__ import annotations

from torch import Tensor, nn

from restart_lightning.networks.embedding import LabelEmbedding, PositionalEmbedding


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
        self, dim: int = 2, width: int = 64, depth: int = 4, num_classes: int = 0, label_dropout: float = 0.0
    ) -> None:
        super().__init__()
        if dim < 1 or width < 2 or depth < 1:
            raise ValueError(f"MLP needs dim >= 1, width >= 2 and depth >= 1; got {dim}, {width}, {depth}")
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
