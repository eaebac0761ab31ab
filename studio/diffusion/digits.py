"""MNIST digits as the digit diffusion models see them: 28×28 in [0, 1] padded to 32×32 in [−1, 1] with black (−1),
the way the pixel and the text-to-image models were trained; written once for the trainers, the evaluations, the
engines' img2img and the tabs' pictures."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_digit(x: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Digits (B, 1, 28, 28) in [0, 1] as pictures (B, 1, size, size) in [−1, 1]: padded to 32×32 with black as the
    digit models were trained, resized (bilinear) for a model of another size."""
    x0 = F.pad(x * 2 - 1, (2, 2, 2, 2), value=-1.0)
    if size != 32:
        x0 = F.interpolate(x0, size=(size, size), mode="bilinear", align_corners=False)
    return x0


def mnist_32(split: str, data_dir) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An MNIST split as (N, 1, 32, 32) in [−1, 1] (background −1), its labels, and the 28×28 originals in [0, 1]."""
    from studio.data import load_mnist

    x, y = load_mnist(split, data_dir)
    return pad_digit(x), y, x
