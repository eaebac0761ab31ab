"""VAE loading for Hub autoencoders: diffusers ``AutoencoderKL`` (e.g. stabilityai/sd-vae-ft-mse)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from studio.loading import Bundle


@dataclass
class AutoencoderKLBundle(Bundle):
    vae: torch.nn.Module  # diffusers AutoencoderKL
    scaling_factor: float  # latents are multiplied by this in Stable Diffusion; kept for reference


def warm_imports(folder: Path | None = None) -> None:
    """Import diffusers' ``AutoencoderKL`` (lazily imported by diffusers), reading no weights."""
    from diffusers import AutoencoderKL  # noqa: F401


def load_autoencoderkl(folder: Path, *, device: torch.device, dtype: torch.dtype) -> AutoencoderKLBundle:
    from diffusers import AutoencoderKL

    sub = "vae" if (folder / "vae").is_dir() else None
    vae = AutoencoderKL.from_pretrained(folder, subfolder=sub, use_safetensors=True, torch_dtype=dtype)
    vae.to(device).eval()
    return AutoencoderKLBundle(vae=vae, scaling_factor=float(getattr(vae.config, "scaling_factor", 1.0)))
