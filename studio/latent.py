"""Paths through a latent space, shared by the VAE and GAN tabs."""

from __future__ import annotations

import torch


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: z0 + t (z1 − z0). z0, z1 (D,) or (N, D); t (N, 1) -> (N, D)."""
    return z0 + t * (z1 - z0)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016, https://arxiv.org/abs/1609.04468): moves along the
    great circle, so the norm interpolates smoothly between |z0| and |z1| instead of dipping toward the
    origin, where a high-dimensional Gaussian prior has almost no mass (its samples sit near |z| = √D).

    z0, z1 (D,) or (N, D), each row its own pair of endpoints; t (N, 1) -> (N, D). Norms and angles are taken per
    row, never over a whole batch (image i of a batch is what it would be alone).
    """
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    u0, u1 = z0 / n0.clamp_min(eps), z1 / n1.clamp_min(eps)
    omega = torch.arccos((u0 * u1).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps))  # angle between the directions
    so = torch.sin(omega)
    parallel = so.abs() < 1e-6  # (anti)parallel: nothing to rotate, the straight line
    so = torch.where(parallel, torch.ones_like(so), so)
    direction = (torch.sin((1 - t) * omega) / so) * u0 + (torch.sin(t * omega) / so) * u1  # (N, D), unit norm
    curved = direction * (n0 + t * (n1 - n0))  # radius interpolated linearly between the endpoints
    return torch.where(parallel, lerp(z0, z1, t), curved)


def path_t(steps: int) -> torch.Tensor:
    """``steps`` points from 0 to 1 inclusive, shaped (steps, 1)."""
    return torch.linspace(0, 1, steps)[:, None]
