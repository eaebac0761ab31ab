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
    return MixinBundle(model=model, folder=Path(folder))
