"""The digit judge: a small CNN classifier of MNIST digits used to measure generated digits.

Two uses (studio.eval.metrics):
* ``judge_accuracy``: does a class-conditional sample look like the digit that was asked for?
* ``fd_ratio``: the Fréchet distance between judge penultimate-layer features of samples and of real
  held-out digits (FID's idea, with an MNIST classifier in place of Inception).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class DigitJudge(nn.Module, PyTorchModelHubMixin, library_name="generative-studio", tags=["mnist", "classifier"],
                 license="mit"):
    """Conv-BN-ReLU ×2, pool, ×2, pool, then a 128-unit feature layer and a 10-way linear head.

    Args:
        width (`int`, defaults to 32): channels of the first block (the second has twice as many).
        feature_dim (`int`, defaults to 128): size of the penultimate layer (the FD features).
        dropout (`float`, defaults to 0.3): dropout before the head, during training only.
    """

    def __init__(self, *, width: int = 32, feature_dim: int = 128, dropout: float = 0.3):
        super().__init__()
        w = width

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(1, w), *block(w, w), nn.MaxPool2d(2),  # (B, w, 14, 14)
            *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            nn.Flatten(),
            nn.Linear(2 * w * 7 * 7, feature_dim), nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, 10)

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """Bring any digit batch to what the judge was trained on: (B, 1, 28, 28) in [0, 1].

        Accepts (B, 28, 28), (B, 1, H, W) or (B, 3, H, W); values in [0, 1] or [-1, 1] (detected by a
        negative minimum); 32×32 inputs (the diffusion model's padded digits) are centre-cropped, other
        sizes resized.
        """
        x = images.float()
        if x.ndim == 3:
            x = x[:, None]
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        if x.min() < -1e-3:  # [-1, 1] convention (GAN tanh output, diffusion)
            x = (x + 1) / 2
        h, w = x.shape[-2:]
        if (h, w) == (32, 32):
            x = x[..., 2:30, 2:30]  # undo the 2-pixel padding
        elif (h, w) != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
        return x.clamp(0, 1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (B, feature_dim) of prepared images."""
        return self.body(self.prepare(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 10)."""
        return self.head(self.dropout(self.features(images)))

    @torch.no_grad()
    def judge(self, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(predicted class (B,), confidence (B,), features (B, feature_dim)) in eval mode, on the CPU."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        preds, confs, feats = [], [], []
        for chunk in images.split(batch_size):
            f = self.features(chunk.to(device))  # (b, F)
            p = torch.softmax(self.head(f), dim=-1)  # (b, 10)
            conf, pred = p.max(dim=-1)
            preds.append(pred.cpu())
            confs.append(conf.cpu())
            feats.append(f.float().cpu())
        self.train(was_training)
        return torch.cat(preds), torch.cat(confs), torch.cat(feats)
