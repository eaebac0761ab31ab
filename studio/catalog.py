"""The catalog: built-in checkpoints found under ``checkpoints/`` and a few known Hub ids per family, and the
registry app.py builds from them (:func:`registry_from_settings`).

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

from studio.loading import ModelSpec, read_card_metadata
from studio.registry import ModelRegistry

log = logging.getLogger(__name__)

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
    ModelSpec(key="sd-turbo", family="t2i", source="stabilityai/sd-turbo", loader="diffusers-sd",
              description="SD-Turbo (Stability AI, 2023): Stable Diffusion 2.1 distilled to 1-4 steps at 512x512; "
                          "use guidance w = 1 (no guidance)", license="other"),
    ModelSpec(key="stable-diffusion-v1-5", family="t2i", source="stable-diffusion-v1-5/stable-diffusion-v1-5",
              loader="diffusers-sd", description="Stable Diffusion 1.5, 512x512 (a GPU is advised)",
              license="creativeml-openrail-m"),
    ModelSpec(key="ddpm-cifar10-32", family="diffusion", source="google/ddpm-cifar10-32", loader="diffusers-unet",
              description="Unconditional DDPM on CIFAR-10, 32x32 RGB (Ho et al., 2020)", license="apache-2.0"),
]


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
    order = {"text": 0, "vae": 1, "gan": 2, "diffusion": 3, "t2i": 4, "judge": 5}
    return sorted(specs, key=lambda s: (order[s.family], s.key))


def registry_from_settings(settings) -> ModelRegistry:
    """The registry app.py builds: built-in checkpoints, the Hub models the host listed (``STUDIO_MODELS``) and,
    not hosted, the known Hub ids (when Hub loading is on)."""
    return ModelRegistry(default_catalog(settings), device=settings.device, max_loaded=settings.max_loaded,
                         allow_hub=settings.allow_hub, offline=settings.hub_offline,
                         allow_local=settings.allow_local_models)


def listed_spec(entry: str) -> ModelSpec:
    """One ``STUDIO_MODELS`` entry: the key of a known Hub model (``gpt2``) or ``family:owner/name``."""
    from studio.loading import FAMILIES, HUB_LOADERS, is_hub_id

    known = {s.key: s for s in KNOWN_HUB_MODELS}
    if entry in known:
        return known[entry]
    family, sep, repo = entry.partition(":")
    if not sep or family not in HUB_LOADERS or not is_hub_id(repo):
        raise ValueError(f"STUDIO_MODELS: {entry!r} is neither a known Hub model ({', '.join(known)}) nor "
                         f"family:owner/name with a family among {', '.join(f for f in FAMILIES if f in HUB_LOADERS)}.")
    return ModelSpec(key=repo, family=family, source=repo, loader=HUB_LOADERS[family],
                     description="listed by the host (STUDIO_MODELS)")


def default_catalog(settings) -> list[ModelSpec]:
    specs = builtin_specs(Path(settings.checkpoints_dir))
    listed = [listed_spec(e) for e in settings.listed_models]
    if settings.allow_hub and not settings.hosted:
        specs += KNOWN_HUB_MODELS
    specs += [s for s in listed if s.key not in {x.key for x in specs}]
    return specs
