"""DDPM-family loading: a diffusers ``UNet2DModel`` plus its scheduler config.

Two layouts are read: the pipeline layout (``unet/`` + ``scheduler/`` folders, what the studio's own
checkpoint uses) and the flat layout of older Hub repos (``config.json`` + weights +
``scheduler_config.json`` at the top). The scheduler is kept as a *config*: diffusers schedulers are
stateful, so the engine builds a fresh one per request with ``SchedulerClass.from_config(config)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from studio.loading import Bundle


@dataclass
class DiffusionBundle(Bundle):
    unet: torch.nn.Module  # diffusers UNet2DModel
    scheduler_config: dict  # the saved scheduler's config (its _class_name says which one it was trained with)
    num_classes: int  # class labels the UNet takes (0 = unconditional); the "no class" label is num_classes
    sample_size: int  # image side in pixels
    in_channels: int  # 1 for MNIST, 3 for CIFAR-10


def warm_imports(folder: Path | None = None) -> None:
    """Import what loading a UNet and running the Diffusion tab need, reading no weights: diffusers' UNet and
    the schedulers the tab offers (diffusers imports each class lazily, on first use)."""
    import diffusers

    from studio.diffusion.engine import SCHEDULERS

    for name in ("UNet2DModel", "DDPMScheduler", *SCHEDULERS.values()):
        getattr(diffusers, name)


def load_unet(folder: Path, *, device: torch.device, dtype: torch.dtype) -> DiffusionBundle:
    from diffusers import DDPMScheduler, UNet2DModel

    if (folder / "unet").is_dir():
        unet = UNet2DModel.from_pretrained(folder, subfolder="unet", use_safetensors=True, torch_dtype=dtype)
    else:
        unet = UNet2DModel.from_pretrained(folder, use_safetensors=True, torch_dtype=dtype)
    sched_dir = folder / "scheduler" if (folder / "scheduler").is_dir() else folder
    if not (sched_dir / "scheduler_config.json").is_file():
        raise FileNotFoundError(f"no scheduler_config.json in {sched_dir}")
    scheduler_config = dict(DDPMScheduler.load_config(sched_dir))
    unet.to(device).eval()
    n_embeds = unet.config.num_class_embeds or 0
    # The studio's conditional models reserve the last class embedding as "no class" (classifier-free guidance).
    num_classes = max(n_embeds - 1, 0)
    return DiffusionBundle(unet=unet, scheduler_config=scheduler_config, num_classes=num_classes,
                           sample_size=int(unet.config.sample_size if isinstance(unet.config.sample_size, int)
                                           else unet.config.sample_size[0]),
                           in_channels=int(unet.config.in_channels))


def num_classes_in(folder: Path) -> int | None:
    """The class labels a saved UNet takes (0 = unconditional), read from its config without loading weights;
    None when the folder holds no UNet config."""
    import json

    for config in (Path(folder) / "unet" / "config.json", Path(folder) / "config.json"):
        if config.is_file():
            try:
                n_embeds = json.loads(config.read_text()).get("num_class_embeds") or 0
            except (OSError, ValueError, AttributeError):
                return None
            return max(int(n_embeds) - 1, 0)
    return None


def num_classes_of(registry, key: str) -> int | None:
    """The class labels model ``key`` takes: from the loaded bundle, else from a local folder's config; None
    for a Hub model not loaded yet (its config is not read before the user loads it)."""
    if registry.is_loaded(key):
        return registry.get(key).num_classes
    spec = registry.spec(key)
    return num_classes_in(Path(spec.source).expanduser()) if spec.is_local else None
