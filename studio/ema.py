"""The exponential moving average of a model's weights that the GAN and diffusion trainers ship.

EMA weights average out the last steps' noise (Karras et al. 2019 for GANs; Ho et al. 2020 for DDPMs), so the
shipped model is ``ema``, not the one being trained. Buffers (BatchNorm's running mean and variance) are
copied, not averaged: they are statistics of the activations, and after the weights move they must describe
the activations of the live model, which is what the next forward pass of the EMA copy sees; averaging them
would mix statistics of weights that no longer exist. A model without buffers (the DDPM's GroupNorm UNet) is
unaffected by that copy, so one function serves both trainers.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``ema ← decay · ema + (1 − decay) · model`` for every parameter; buffers copied from ``model``."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)
