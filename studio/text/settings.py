"""The Text tab's decoding controls: ``DecodeSettings`` (every knob, its check, and the transformers logits
processors it turns into, in ``generate``'s order) and the named presets."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from studio import checks
from studio.i18n import N_

MODES = ("greedy", "sample", "beam")


@dataclass(frozen=True)
class DecodeSettings:
    """Every decoding control. The defaults are "Neutral": plain sampling from the model, all filters off.

    Args:
        mode (`str`): ``greedy``, ``sample`` or ``beam``.
        temperature (`float`, 1.0): divide logits by T (sample). <1 sharpens, >1 flattens.
        top_k (`int`, 0 = off): keep the k most likely tokens (sample).
        top_p (`float`, 1.0 = off): keep the smallest set with probability ≥ p, "nucleus" (sample;
            Holtzman et al. 2019, https://arxiv.org/abs/1904.09751).
        min_p (`float`, 0.0 = off): keep tokens with probability ≥ min_p × the top token's (sample).
        typical_p (`float`, 1.0 = off): locally typical sampling (sample; Meister et al. 2022,
            https://arxiv.org/abs/2202.00666).
        repetition_penalty (`float`, 1.0 = off): divide positive logits of tokens already in the context
            (CTRL, Keskar et al. 2019, https://arxiv.org/abs/1909.05858). All modes.
        no_repeat_ngram_size (`int`, 0 = off): forbid repeating any n-gram of this size. All modes.
        num_beams (`int`, 4): beams (beam).
        length_penalty (`float`, 1.0): beam score = log p / length^α (beam).
        early_stopping (`bool`, True): stop when num_beams finished candidates exist (beam).
        num_return_sequences (`int`, 1): beams to return, ≤ num_beams (beam).
        max_new_tokens (`int`, 100): tokens to generate.
    """

    mode: str = "sample"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 4
    length_penalty: float = 1.0
    early_stopping: bool = True
    num_return_sequences: int = 1
    max_new_tokens: int = 100

    @classmethod
    def from_dict(cls, data: dict) -> "DecodeSettings":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"Unknown decoding setting(s): {', '.join(sorted(unknown))}. Known: {', '.join(sorted(names))}.")
        return cls(**data)

    def validated(self, *, max_new_tokens_limit: int = 1024, vocab_size: int | None = None) -> "DecodeSettings":
        """Check every value; raise ``ValueError`` naming the control, the value and what is allowed."""

        def number(name, lo, hi, *, integer=False, lo_open=False):
            v = getattr(self, name)
            if integer:
                checks.whole_number(name, v, lo, hi)
            else:
                checks.number(name, v, lo, hi, lo_open=lo_open)

        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}.")
        number("temperature", 0, 5, lo_open=True)
        number("top_k", 0, vocab_size or 10**6, integer=True)
        number("top_p", 0, 1, lo_open=True)
        number("min_p", 0, 1)
        number("typical_p", 0, 1, lo_open=True)
        number("repetition_penalty", 0, 10, lo_open=True)
        number("no_repeat_ngram_size", 0, 20, integer=True)
        number("num_beams", 1, 16, integer=True)
        number("length_penalty", -5, 5)
        number("num_return_sequences", 1, 16, integer=True)
        number("max_new_tokens", 1, max_new_tokens_limit, integer=True)
        if not isinstance(self.early_stopping, bool):
            raise ValueError(f"early_stopping must be true or false, got {self.early_stopping!r}.")
        if self.mode == "beam" and self.num_return_sequences > self.num_beams:
            raise ValueError(f"num_return_sequences ({self.num_return_sequences}) cannot exceed num_beams ({self.num_beams}).")
        ints = {k: int(getattr(self, k)) for k in ("top_k", "no_repeat_ngram_size", "num_beams",
                                                   "num_return_sequences", "max_new_tokens")}
        return replace(self, **ints, temperature=float(self.temperature), top_p=float(self.top_p),
                       min_p=float(self.min_p), typical_p=float(self.typical_p),
                       repetition_penalty=float(self.repetition_penalty), length_penalty=float(self.length_penalty))

    def stages(self) -> list[tuple[str, object]]:
        """The active shaping stages, in the order they are applied, as (name, transformers processor)."""
        from transformers.generation.logits_process import (MinPLogitsWarper, NoRepeatNGramLogitsProcessor,
                                                            RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                            TopKLogitsWarper, TopPLogitsWarper, TypicalLogitsWarper)

        out = []
        if self.repetition_penalty != 1.0:
            out.append(("repetition penalty", RepetitionPenaltyLogitsProcessor(self.repetition_penalty)))
        if self.no_repeat_ngram_size > 0:
            out.append(("no-repeat n-gram", NoRepeatNGramLogitsProcessor(self.no_repeat_ngram_size)))
        if self.mode != "sample":
            return out
        if self.temperature != 1.0:
            out.append(("temperature", TemperatureLogitsWarper(self.temperature)))
        if self.top_k > 0:
            out.append(("top-k", TopKLogitsWarper(self.top_k)))
        if self.top_p < 1.0:
            out.append(("top-p", TopPLogitsWarper(self.top_p)))
        if self.min_p > 0.0:
            out.append(("min-p", MinPLogitsWarper(self.min_p)))
        if self.typical_p < 1.0:
            out.append(("typical-p", TypicalLogitsWarper(mass=self.typical_p)))
        return out

    def inactive_controls(self) -> dict[str, str]:
        """Controls that do nothing in this mode, with the reason (the tab disables them and says why)."""
        why_sample = N_(f"only used when sampling (mode is {self.mode})")
        why_beam = N_(f"only used by beam search (mode is {self.mode})")
        off = {}
        if self.mode != "sample":
            off.update({k: why_sample for k in ("temperature", "top_k", "top_p", "min_p", "typical_p")})
        if self.mode != "beam":
            off.update({k: why_beam for k in ("num_beams", "length_penalty", "early_stopping", "num_return_sequences")})
        return off


PRESETS = {
    "Neutral": DecodeSettings(mode="sample"),
    "Greedy": DecodeSettings(mode="greedy"),
    "Beam": DecodeSettings(mode="beam", num_beams=4, length_penalty=1.0, early_stopping=True,
                           no_repeat_ngram_size=3),
    "Balanced": DecodeSettings(mode="sample", temperature=0.8, top_p=0.95, repetition_penalty=1.1),
    "Creative": DecodeSettings(mode="sample", temperature=1.2, top_k=100, top_p=0.98),
}
