"""A convolutional VAE for 28×28 digits (Kingma & Welling 2013, https://arxiv.org/abs/1312.6114)."""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class ConvVAE(nn.Module, PyTorchModelHubMixin, library_name="generative-studio", tags=["vae", "mnist"], license="mit"):
    """Encoder x -> (μ, log σ²) of q(z|x); decoder z -> Bernoulli logits of p(x|z); prior p(z) = N(0, I).

    Args:
        latent_dim (`int`, defaults to 16): size of z (2 for the latent map).
        width (`int`, defaults to 32): channels of the first conv layer (the second has twice as many).
        hidden (`int`, defaults to 256): units of the fully connected layer on each side.
    """

    def __init__(self, *, latent_dim: int = 16, width: int = 32, hidden: int = 256):
        super().__init__()
        w = width
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.ReLU(True),  # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.ReLU(True),  # (B, 2w, 7, 7)
            nn.Flatten(), nn.Linear(2 * w * 49, hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * latent_dim),  # (B, 2D): μ and log σ²
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * w * 49), nn.ReLU(True), nn.Unflatten(1, (2 * w, 7, 7)),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU(True),  # (B, w, 14, 14)
            nn.ConvTranspose2d(w, 1, 4, 2, 1),  # (B, 1, 28, 28) logits
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, 28, 28) in [0, 1] -> μ (B, D), log σ² (B, D)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> Bernoulli logits (B, 1, 28, 28)."""
        return self.decoder(z)

    def decode_images(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> images (B, 1, 28, 28) in [0, 1] (the Bernoulli means)."""
        return torch.sigmoid(self.decode(z))

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One ELBO sample with the reparameterisation z = μ + σ ⊙ ε, ε ~ N(0, I) given (B, D)."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps  # (B, D)
        return self.decode(z), mu, logvar
