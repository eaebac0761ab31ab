"""A class-conditional DCGAN for 28×28 digits (Radford et al. 2015, https://arxiv.org/abs/1511.06434;
conditioning as in Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784)."""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class Generator(nn.Module, PyTorchModelHubMixin, library_name="generative-studio", tags=["gan", "dcgan", "mnist"],
                license="mit"):
    """z (B, z_dim) and a digit label (B,) -> image (B, 1, 28, 28) in [-1, 1].

    Transposed convolutions with batch norm and ReLU, tanh output, as in DCGAN. The label is embedded and
    concatenated to z.

    Args:
        z_dim (`int`, defaults to 64): latent size; the prior is N(0, I).
        num_classes (`int`, defaults to 10): digit classes.
        embed_dim (`int`, defaults to 16): size of the label embedding concatenated to z.
        width (`int`, defaults to 64): channels of the last hidden layer (the first has 4×).
    """

    def __init__(self, *, z_dim: int = 64, num_classes: int = 10, embed_dim: int = 16, width: int = 64):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim + embed_dim, 4 * w, 7, 1, 0, bias=False),  # (B, 4w, 7, 7)
            nn.BatchNorm2d(4 * w), nn.ReLU(True),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),  # (B, 2w, 14, 14)
            nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),  # (B, w, 28, 28)
            nn.BatchNorm2d(w), nn.ReLU(True),
            nn.Conv2d(w, 1, 3, 1, 1),  # (B, 1, 28, 28)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.embed(labels)], dim=1)  # (B, z_dim + embed_dim)
        return self.net(h[:, :, None, None])  # (B, 1, 28, 28) in [-1, 1]


class Discriminator(nn.Module):
    """image (B, 1, 28, 28) and label (B,) -> real/fake logit (B,). Strided convolutions, LeakyReLU 0.2; the
    label enters as a learned 28×28 map stacked onto the image. Used only in training (not shipped)."""

    def __init__(self, *, num_classes: int = 10, width: int = 64):
        super().__init__()
        w = width
        self.label_map = nn.Embedding(num_classes, 28 * 28)
        self.net = nn.Sequential(
            nn.Conv2d(2, w, 4, 2, 1), nn.LeakyReLU(0.2, True),  # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),  # (B, 2w, 7, 7)
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),  # (B, 4w, 4, 4)
            nn.Flatten(), nn.Linear(4 * w * 16, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        m = self.label_map(labels).view(-1, 1, 28, 28)  # (B, 1, 28, 28)
        return self.net(torch.cat([x, m], dim=1))[:, 0]  # (B,)
