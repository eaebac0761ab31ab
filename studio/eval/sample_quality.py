"""Quality of generated digits, judged against real ones: ``judge_accuracy`` and ``fd_ratio``.

1. The judge labels every sample; ``judge_accuracy`` is the fraction labelled as the class that was asked for.
2. The judge's penultimate features of the samples are compared with those of the 1,000 held-out digits by
   Fréchet distance (FD).
3. ``fd_ratio`` = FD(samples, held-out) / FD(1,000 training digits, held-out): 1.0 means "as close to the
   held-out digits as real training digits are". FD is biased by sample count, so the reference uses 1,000
   digits and evaluations should pass 1,000 samples too (100 per class).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from studio.data import default_data_dir, load_mnist
from studio.eval.metrics import frechet_distance, label_accuracy


@lru_cache(maxsize=4)
def _reference(judge, data_dir: str):
    x_held, _ = load_mnist("heldout", data_dir)
    x_ref, _ = load_mnist("reference", data_dir)
    _, _, f_held = judge.judge(x_held)
    _, _, f_ref = judge.judge(x_ref)
    return f_held.numpy(), frechet_distance(f_ref.numpy(), f_held.numpy())


def judge_figures(judge, samples: torch.Tensor, labels: torch.Tensor, data_dir=None) -> dict:
    """Figures for class-conditional ``samples`` (B, 1, H, W) that were asked to show ``labels`` (B,).

    Returns ``judge_accuracy``, ``fd``, ``fd_reference`` (real training vs held-out digits), ``fd_ratio``,
    ``n_samples``.
    """
    if len(samples) != len(labels):
        raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
    f_held, fd_ref = _reference(judge, str(data_dir or default_data_dir()))
    pred, _, feats = judge.judge(samples)
    fd = frechet_distance(feats.numpy(), f_held)
    return {"judge_accuracy": round(label_accuracy(pred, labels.cpu()), 4), "fd": round(fd, 3),
            "fd_reference": round(fd_ref, 3), "fd_ratio": round(fd / fd_ref, 3), "n_samples": int(len(samples))}


def balanced_labels(n_per_class: int, num_classes: int = 10) -> torch.Tensor:
    """[0]*n + [1]*n + ... : equal numbers per class, in a fixed order."""
    return torch.arange(num_classes).repeat_interleave(n_per_class)
