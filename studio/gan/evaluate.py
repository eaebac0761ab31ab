"""The eval harness's GAN figures: 1,000 class-conditional samples (100 per digit, seeds 0..999, no
truncation), judged against the held-out digits."""

from __future__ import annotations

import torch

from studio.eval.sample_quality import balanced_labels, judge_figures
from studio.gan.engine import render, seed_latent

N_PER_CLASS = 100


@torch.no_grad()
def samples(generator, *, n_per_class: int = N_PER_CLASS, truncation: str = "none", threshold: float = 2.0,
            psi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    labels = balanced_labels(n_per_class)  # (N,)
    z = torch.stack([seed_latent(i, generator.z_dim, truncation=truncation, threshold=threshold, psi=psi)[0]
                     for i in range(len(labels))])  # (N, D): seed i for sample i
    images = torch.cat([render(generator, zc, lc) for zc, lc in zip(z.split(250), labels.split(250))])
    return images, labels


def evaluate_checkpoint(registry, key: str, *, data_dir=None, judge_key="digit-judge") -> dict:
    judge = registry.get(judge_key).model
    images, labels = samples(registry.get(key).model)
    figures = judge_figures(judge, images, labels, data_dir)
    return {"judge_accuracy": figures["judge_accuracy"], "fd_ratio": figures["fd_ratio"],
            "settings": {"samples": len(labels), "per_class": N_PER_CLASS, "seeds": "0..999 (sample i uses seed i)",
                         "truncation": "none", "fd": figures["fd"], "fd_reference": figures["fd_reference"]}}
