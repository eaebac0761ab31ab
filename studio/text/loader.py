"""Causal LM loading: any ``AutoModelForCausalLM`` folder (the built-in model, or a Hub snapshot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.loading import Bundle


@dataclass
class TextBundle(Bundle):
    model: torch.nn.Module  # a transformers PreTrainedModel (causal LM)
    tokenizer: Any  # a transformers PreTrainedTokenizerFast
    generation_config: Any  # the model's GenerationConfig (its defaults)
    context_length: int  # longest input the model accepts, in tokens


def warm_imports(folder: Path | None = None) -> None:
    """Import what ``load_causal_lm`` needs, reading no weights: transformers' auto classes, and the architecture
    and tokenizer classes a folder's configs name (transformers imports a model's code only when it is first used;
    for GPT-2 that is most of the 5 s a fresh process takes to load the built-in model, benchmarks/registry.py)."""
    import json

    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    names = []
    for config_name, field_name in (("config.json", "architectures"), ("tokenizer_config.json", "tokenizer_class")):
        path = folder / config_name if folder is not None else None
        if path is not None and path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get(field_name) or []
            names += [value] if isinstance(value, str) else list(value)
    for name in names:
        getattr(transformers, name, None)


def load_causal_lm(folder: Path, *, device: torch.device, dtype: torch.dtype) -> TextBundle:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, use_safetensors=True, trust_remote_code=False)
    model.to(device).eval()
    config = model.config
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 1024
    return TextBundle(model=model, tokenizer=tokenizer, generation_config=model.generation_config,
                      context_length=int(context))
