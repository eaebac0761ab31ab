"""Causal LM loading: any ``AutoModelForCausalLM`` folder (the built-in model, or a Hub snapshot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.registry import Bundle


@dataclass
class TextBundle(Bundle):
    model: torch.nn.Module  # a transformers PreTrainedModel (causal LM)
    tokenizer: Any  # a transformers PreTrainedTokenizerFast
    generation_config: Any  # the model's GenerationConfig (its defaults)
    context_length: int  # longest input the model accepts, in tokens


def load_causal_lm(folder: Path, *, device: torch.device, dtype: torch.dtype) -> TextBundle:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, use_safetensors=True, trust_remote_code=False)
    model.to(device).eval()
    config = model.config
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 1024
    return TextBundle(model=model, tokenizer=tokenizer, generation_config=model.generation_config,
                      context_length=int(context))
