"""The catalog: built-in checkpoints found under ``checkpoints/`` and a few known Hub ids per family.

A built-in checkpoint is a folder whose model card (``README.md``) carries a ``studio:`` block in its YAML
front matter::

    ---
    license: mit
    library_name: transformers
    studio:
      key: shakespeare-gpt
      family: text
      loader: transformers-causal-lm
      description: 10M-parameter GPT trained on Tiny Shakespeare by this project
    ---

Its measured quality figures come from ``eval.json`` beside the card, written by ``python -m studio.eval``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from studio.registry import ModelSpec

log = logging.getLogger(__name__)

HUB_LOADERS = {"text": "transformers-causal-lm", "diffusion": "diffusers-unet", "vae": "diffusers-autoencoderkl",
               "gan": "mixin:studio.gan.model:Generator"}

# Real Hub models the tabs accept. They need a download (or a filled Hugging Face cache) before use.
KNOWN_HUB_MODELS = [
    ModelSpec(key="gpt2", family="text", source="openai-community/gpt2", loader="transformers-causal-lm",
              description="GPT-2 small, 124M parameters (OpenAI, 2019)", license="mit"),
    ModelSpec(key="distilgpt2", family="text", source="distilbert/distilgpt2", loader="transformers-causal-lm",
              description="DistilGPT-2, 82M parameters, distilled from GPT-2", license="apache-2.0"),
    ModelSpec(key="SmolLM2-135M", family="text", source="HuggingFaceTB/SmolLM2-135M", loader="transformers-causal-lm",
              description="SmolLM2 135M base model (Hugging Face, 2024)", license="apache-2.0"),
    ModelSpec(key="sd-vae-ft-mse", family="vae", source="stabilityai/sd-vae-ft-mse", loader="diffusers-autoencoderkl",
              description="Stable Diffusion's KL autoencoder, decoder fine-tuned on MSE; for photos", license="mit"),
    ModelSpec(key="ddpm-cifar10-32", family="diffusion", source="google/ddpm-cifar10-32", loader="diffusers-unet",
              description="Unconditional DDPM on CIFAR-10, 32x32 RGB (Ho et al., 2020)", license="apache-2.0"),
]


def hub_loader_for(family: str) -> str:
    if family not in HUB_LOADERS:
        raise ValueError(f"The {family} family does not load Hub models.")
    return HUB_LOADERS[family]


def local_loader_for(family: str, folder: Path) -> str:
    """The loader for a model folder a user added: its model card's ``studio:`` loader when it has one (the
    built-ins' format), a diffusers ``AutoencoderKL`` config in the VAE family, else the family's Hub loader."""
    try:
        studio = read_card_metadata(folder).get("studio")
    except Exception:  # noqa: BLE001 - an unreadable card: fall back on the config
        studio = None
    if isinstance(studio, dict) and studio.get("loader"):
        if studio.get("family") not in (None, family):
            raise ValueError(f"{folder} holds a {studio['family']} model (its model card says so), not a {family} model.")
        return str(studio["loader"])
    config = folder / "config.json"
    class_name = ""
    if config.is_file():
        try:
            class_name = json.loads(config.read_text()).get("_class_name", "")
        except (OSError, ValueError, AttributeError):
            class_name = ""
    if family == "vae":
        return "diffusers-autoencoderkl" if class_name == "AutoencoderKL" else "mixin:studio.vae.model:ConvVAE"
    return hub_loader_for(family)


def read_card_metadata(folder: Path) -> dict:
    """The YAML front matter of ``folder/README.md`` as a dict ({} when there is none)."""
    from huggingface_hub import ModelCard

    card_path = folder / "README.md"
    if not card_path.is_file():
        return {}
    return ModelCard.load(card_path).data.to_dict()


def builtin_specs(checkpoints_dir: Path) -> list[ModelSpec]:
    """Every checkpoint folder with a ``studio:`` block in its model card, sorted by family then key."""
    specs = []
    if not checkpoints_dir.is_dir():
        log.warning("no checkpoints folder at %s: the studio has no built-in models", checkpoints_dir)
        return specs
    for folder in sorted(p for p in checkpoints_dir.iterdir() if p.is_dir()):
        try:
            meta = read_card_metadata(folder)
        except Exception as err:  # a broken card must not take the studio down
            log.warning("skipping %s: unreadable model card (%s)", folder, err)
            continue
        studio = meta.get("studio")
        if not isinstance(studio, dict):
            continue
        metrics = {}
        if (folder / "eval.json").is_file():
            try:
                metrics = json.loads((folder / "eval.json").read_text())
            except (OSError, ValueError) as err:
                log.warning("ignoring %s/eval.json: %s", folder, err)
        try:
            specs.append(ModelSpec(key=studio.get("key", folder.name), family=studio["family"], source=str(folder),
                                   loader=studio["loader"], dtype=studio.get("dtype", "auto"),
                                   description=studio.get("description", ""), license=str(meta.get("license", "")),
                                   builtin=True, metrics=metrics))
        except (KeyError, ValueError) as err:
            log.warning("skipping %s: bad studio block in its model card (%s)", folder, err)
    order = {"text": 0, "vae": 1, "gan": 2, "diffusion": 3, "judge": 4}
    return sorted(specs, key=lambda s: (order[s.family], s.key))


def default_catalog(settings) -> list[ModelSpec]:
    specs = builtin_specs(Path(settings.checkpoints_dir))
    if settings.allow_hub:
        specs += KNOWN_HUB_MODELS
    return specs
