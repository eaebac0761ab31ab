"""Metrics with known answers, shared by every family.

* ``frechet_distance``: ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}) between Gaussians fitted to
  two feature sets (Heusel et al., 2017, https://arxiv.org/abs/1706.08500). Computed with symmetric
  eigendecompositions only, so it is real-valued and stable without scipy.
* ``nats_per_char``: total negative log-likelihood (nats) over the number of characters.
* ``bernoulli_neg_elbo``: −ELBO per image = BCE(x̂, x) summed over pixels + KL(q(z|x) ‖ N(0, I)).
* ``label_accuracy``: fraction of predictions equal to the labels.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least 2 rows to estimate a covariance")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a  # symmetric PSD, same eigenvalues as Σ₁Σ₂
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_sqrt)
    return max(fd, 0.0)


def nats_per_char(total_nats: float, n_chars: int) -> float:
    if n_chars <= 0:
        raise ValueError("n_chars must be positive")
    return float(total_nats) / n_chars


def label_accuracy(predicted, labels) -> float:
    predicted, labels = torch.as_tensor(predicted), torch.as_tensor(labels)
    if predicted.shape != labels.shape or predicted.numel() == 0:
        raise ValueError(f"predictions {tuple(predicted.shape)} and labels {tuple(labels.shape)} must match and be non-empty")
    return float((predicted == labels).float().mean())


def bernoulli_neg_elbo(recon_logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """−ELBO per image (B,), in nats: Bernoulli reconstruction on intensities in [0, 1] plus the Gaussian KL.

    recon_logits, x: (B, C, H, W); mu, logvar: (B, D).
    """
    rec = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="none").flatten(1).sum(1)  # (B,)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)  # (B,)
    return rec + kl

