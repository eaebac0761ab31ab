"""Loading the studio's own ``PyTorchModelHubMixin`` models (VAE, GAN, judge): config.json + model.safetensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from studio.registry import Bundle


@dataclass
class MixinBundle(Bundle):
    model: torch.nn.Module  # a studio model class that mixes in PyTorchModelHubMixin
    folder: Path  # where it came from (model card, training snapshots)


def load_mixin(cls, folder: Path, *, device: torch.device, dtype: torch.dtype) -> MixinBundle:
    from huggingface_hub import PyTorchModelHubMixin

    if not (isinstance(cls, type) and issubclass(cls, PyTorchModelHubMixin) and issubclass(cls, torch.nn.Module)):
        raise TypeError(f"{cls!r} is not an nn.Module with PyTorchModelHubMixin")
    # from_pretrained reads config.json (the __init__ kwargs) and model.safetensors; strict so a checkpoint
    # that does not match the class fails loudly instead of leaving random weights.
    model = cls.from_pretrained(str(folder), strict=True, map_location="cpu")
    model.to(device=device, dtype=dtype).eval()
    if device.type == "cpu" and any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in model.modules()):
        # oneDNN's CPU convolutions run faster on channels-last weights (the activations follow): the VAE grid
        # 48 -> 29 ms, the GAN generator 51 -> 39 ms, the judge 52 -> 40 ms (benchmarks/README.md). Only the
        # memory layout changes; values agree to float rounding.
        model.to(memory_format=torch.channels_last)
    return MixinBundle(model=model, folder=Path(folder))
