"""DDPM-family loading: a diffusers ``UNet2DModel`` plus its scheduler config.

Two layouts are read: the pipeline layout (``unet/`` + ``scheduler/`` folders, what the studio's own
checkpoint uses) and the flat layout of older Hub repos (``config.json`` + weights +
``scheduler_config.json`` at the top). The scheduler is kept as a *config*: diffusers schedulers are
stateful, so the engine builds a fresh one per request with ``SchedulerClass.from_config(config)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    if folder is not None and (Path(folder) / "model_index.json").is_file():
        warm_imports_t2i(folder)


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


# --- text to image: a Stable-Diffusion-format pipeline folder -------------------------------------------------------

# The parts the studio loads, by role: the classes it accepts (all from diffusers or transformers, never a
# repository's own code) and the library each comes from.
PIPELINE_PARTS = {
    "tokenizer": ("transformers", ("CLIPTokenizer", "CLIPTokenizerFast")),
    "text_encoder": ("transformers", ("CLIPTextModel",)),
    "unet": ("diffusers", ("UNet2DConditionModel",)),
    "vae": ("diffusers", ("AutoencoderKL",)),
}
IGNORED_PARTS = ("safety_checker", "feature_extractor", "image_encoder")  # not loaded (listed, or null)
# what a Hub download of such a pipeline fetches: configs, tokenizer files and the full-precision safetensors of
# each part (not the repository's single-file checkpoints, fp16 / EMA variants or pickles)
PIPELINE_ALLOW_PATTERNS = ["model_index.json", "README.md", "*/*.json", "*/*.txt",
                           "*/diffusion_pytorch_model.safetensors", "*/diffusion_pytorch_model-*.safetensors",
                           "*/model.safetensors", "*/model-*.safetensors"]


@dataclass
class TextToImageBundle(Bundle):
    """A Stable-Diffusion-format pipeline's parts (studio/diffusion/loader.py: load_text_to_image)."""

    tokenizer: object  # transformers CLIPTokenizer
    text_encoder: torch.nn.Module  # transformers CLIPTextModel
    unet: torch.nn.Module  # diffusers UNet2DConditionModel
    vae: torch.nn.Module  # diffusers AutoencoderKL
    scheduler_config: dict
    folder: Path
    preview: dict = field(default_factory=dict)  # the fitted latent → picture map, once asked for (preview_map)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def image_channels(self) -> int:
        return int(self.vae.config.out_channels)

    @property
    def default_size(self) -> int:
        s = self.unet.config.sample_size
        return int(s if isinstance(s, int) else s[0]) * self.vae_scale_factor

    @property
    def max_tokens(self) -> int:
        return int(self.tokenizer.model_max_length)


def warm_imports_t2i(folder: Path | None = None) -> None:
    """Import what loading a Stable-Diffusion-format pipeline needs, reading no weights."""
    import diffusers
    import transformers

    from studio.diffusion.engine import SCHEDULERS

    for name in ("UNet2DConditionModel", "AutoencoderKL", *SCHEDULERS.values()):
        getattr(diffusers, name)
    for name in ("CLIPTextModel", "CLIPTokenizer"):
        getattr(transformers, name)


def read_model_index(folder: Path) -> dict:
    """``model_index.json``, checked: every part the studio loads is a class it accepts, nothing asks for a
    repository's own code, and each weighted part has safetensors weights. Clear errors otherwise."""
    import json

    from studio.errors import ModelLoadError, UnsafeCheckpointError

    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise ModelLoadError(f"{folder} has no model_index.json: a text-to-image model is a diffusers pipeline folder "
                             "(model_index.json with tokenizer/, text_encoder/, unet/, vae/, scheduler/), as "
                             "StableDiffusionPipeline.save_pretrained writes it.")
    index = json.loads(index_file.read_text())
    for role, entry in index.items():
        if role.startswith("_") or not isinstance(entry, list) or len(entry) != 2 or entry[0] is None:
            continue
        library, cls = entry
        if library not in ("diffusers", "transformers"):
            raise ModelLoadError(
                f"{folder}: its {role} is {cls!r} from {library!r}, code shipped with the model that loading it would "
                "run. The studio never runs a repository's own code (trust_remote_code is never set). Use a pipeline "
                f"whose parts are diffusers or transformers classes, or delete the {role!r} entry from "
                "model_index.json if the pipeline works without it (a safety checker, say).")
    missing = [role for role in (*PIPELINE_PARTS, "scheduler") if not index.get(role) or index[role][0] is None]
    if missing:
        raise ModelLoadError(f"{folder}: model_index.json names no {', '.join(missing)}; a text-to-image pipeline "
                             "needs a tokenizer, a text encoder, a UNet, an autoencoder and a scheduler.")
    for role, (library, accepted) in PIPELINE_PARTS.items():
        cls = index[role][1]
        if index[role][0] != library or cls not in accepted:
            raise ModelLoadError(f"{folder}: its {role} is {cls!r}; the studio runs {' or '.join(accepted)} "
                                 f"there (Stable Diffusion 1.x / 2.x, SD-Turbo and this project's mnist-t2i).")
        if role == "tokenizer":
            continue
        part = folder / role
        if not any(part.glob("*.safetensors")):
            pickles = [p.name for p in part.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
            if pickles:
                raise UnsafeCheckpointError(
                    f"{folder}: {role}/ holds only pickle weights ({', '.join(pickles[:2])}). Pickle files can run "
                    f"code when loaded, so the studio loads safetensors only. Convert it once, on a machine you trust: "
                    f"`python -m studio.convert {part}`.")
            raise ModelLoadError(f"{folder}: {role}/ has no safetensors weights.")
    return index


def load_text_to_image(folder: Path, *, device: torch.device, dtype: torch.dtype):
    """A Stable-Diffusion-format pipeline folder → a ``TextToImageBundle``: tokenizer, text encoder, UNet in
    ``dtype``; the autoencoder in float32 (Stable Diffusion's makes NaNs in float16); the scheduler as a config."""
    import diffusers
    import transformers

    folder = Path(folder)
    index = read_model_index(folder)
    tokenizer = getattr(transformers, index["tokenizer"][1]).from_pretrained(folder, subfolder="tokenizer")
    text_encoder = transformers.CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", use_safetensors=True,
                                                             dtype=dtype)
    unet = diffusers.UNet2DConditionModel.from_pretrained(folder, subfolder="unet", use_safetensors=True,
                                                          torch_dtype=dtype)
    vae = diffusers.AutoencoderKL.from_pretrained(folder, subfolder="vae", use_safetensors=True,
                                                  torch_dtype=torch.float32)
    scheduler_cls = getattr(diffusers, index["scheduler"][1], diffusers.DDPMScheduler)
    scheduler_config = dict(scheduler_cls.load_config(folder / "scheduler"))
    for module in (text_encoder, unet, vae):
        module.to(device).eval()
    if getattr(unet.config, "time_cond_proj_dim", None) is not None:
        from studio.errors import ModelLoadError

        raise ModelLoadError(f"{folder}: its UNet takes a guidance embedding (an LCM-distilled model), which the "
                             "studio's loop does not feed.")
    return TextToImageBundle(tokenizer=tokenizer, text_encoder=text_encoder, unet=unet, vae=vae,
                             scheduler_config=scheduler_config, folder=folder)
