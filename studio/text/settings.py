"""The Text tab's decoding controls: ``DecodeSettings`` (every knob, its check, and the transformers logits
processors it turns into, in ``generate``'s order) and the named presets."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from studio import checks
from studio.i18n import N_

MODES = ("greedy", "sample", "beam")
# The sampling stages by their setting's name, in the standard order: transformers' ``generate`` order for the
# stages it ships (temperature, top-k, top-p, min-p, typical-p, epsilon, eta); top-nσ right after temperature and
# XTC last, where text-generation-webui puts them. ``order`` may rearrange them ("temperature last", or any list).
SAMPLING_ORDER = ("temperature", "top_n_sigma", "top_k", "top_p", "min_p", "typical_p", "epsilon", "eta", "xtc")
ORDERS = {"standard": SAMPLING_ORDER,
          "temperature last": tuple(n for n in SAMPLING_ORDER if n != "temperature") + ("temperature",)}
STAGE_LABELS = {"temperature": "temperature", "top_n_sigma": "top-nσ", "top_k": "top-k", "top_p": "top-p",
                "min_p": "min-p", "typical_p": "typical-p", "epsilon": "epsilon", "eta": "eta", "xtc": "XTC"}


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
        epsilon (`float`, 0.0 = off): drop tokens with probability < ε (sample; epsilon sampling, Hewitt, Manning
            and Liang 2022, https://arxiv.org/abs/2210.15191; transformers' EpsilonLogitsWarper).
        eta (`float`, 0.0 = off): drop tokens with probability < min(η, √η·exp(−entropy)) (sample; eta sampling,
            the same paper; transformers' EtaLogitsWarper).
        top_n_sigma (`float`, 0.0 = off): keep tokens whose logit is ≥ max − n·σ of the logits (sample; Tang et
            al. 2024, https://arxiv.org/abs/2411.07641; studio/text/samplers.py).
        xtc_probability (`float`, 0.0 = off): how often XTC acts (sample; text-generation-webui PR #6335).
        xtc_threshold (`float`, 0.1): XTC removes every token at or above this probability except the least
            likely of them, when there are two or more.
        dry_multiplier (`float`, 0.0 = off): DRY repetition penalty strength (all modes; text-generation-webui
            PR #5677): a token continuing a repeat of m ≥ allowed tokens loses multiplier × base^(m − allowed).
        dry_base (`float`, 1.75): DRY's growth per extra repeated token.
        dry_allowed_length (`int`, 2): the longest repeat DRY lets pass unpenalised.
        order (`str`, "standard"): the order of the sampling stages: "standard", "temperature last" (as
            text-generation-webui's option), or every name of ``SAMPLING_ORDER`` once, comma-separated.
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
    epsilon: float = 0.0
    eta: float = 0.0
    top_n_sigma: float = 0.0
    xtc_probability: float = 0.0
    xtc_threshold: float = 0.1
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    order: str = "standard"
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
        number("epsilon", 0, 0.5)
        number("eta", 0, 0.5)
        number("top_n_sigma", 0, 10)
        number("xtc_probability", 0, 1)
        number("xtc_threshold", 0, 0.5)
        number("dry_multiplier", 0, 10)
        number("dry_base", 1, 4)
        number("dry_allowed_length", 1, 20, integer=True)
        order = self.sampling_order()
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
        ints = {k: int(getattr(self, k)) for k in INT_FIELDS}
        floats = {k: float(getattr(self, k)) for k in FLOAT_FIELDS}
        named = next((name for name, o in ORDERS.items() if o == order), ", ".join(order))
        return replace(self, **ints, **floats, order=named)

    def sampling_order(self) -> tuple[str, ...]:
        """The sampling stages' names in the order ``order`` asks for; ``ValueError`` unless it names each once."""
        if not isinstance(self.order, str):
            raise ValueError(f"order must be text, got {type(self.order).__name__}.")
        if self.order.strip() in ORDERS:
            return ORDERS[self.order.strip()]
        names = tuple(n.strip().replace("-", "_") for n in self.order.split(",") if n.strip())
        unknown = [n for n in names if n not in SAMPLING_ORDER]
        missing = [n for n in SAMPLING_ORDER if n not in names]
        if unknown or missing or len(set(names)) != len(names):
            raise ValueError(f"order must be {' or '.join(repr(o) for o in ORDERS)}, or every sampling stage once, "
                             f"comma-separated (the standard order: {', '.join(SAMPLING_ORDER)}); got {self.order!r}.")
        return names

    def stages(self, *, tokenizer=None, seed: int | None = None) -> list[tuple[str, object]]:
        """The active shaping stages, in the order they are applied, as (name, logits processor): the penalties
        (all modes) first, then the sampling stages in ``sampling_order()``. ``tokenizer`` gives DRY its sequence
        breakers (newline, colon, quote, asterisk); ``seed`` seeds XTC's own draws (shared by compared columns)."""
        from transformers.generation.logits_process import (EpsilonLogitsWarper, EtaLogitsWarper, MinPLogitsWarper,
                                                            NoRepeatNGramLogitsProcessor,
                                                            RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                            TopKLogitsWarper, TopPLogitsWarper, TypicalLogitsWarper)

        from studio.text import samplers

        out = []
        if self.repetition_penalty != 1.0:
            out.append(("repetition penalty", RepetitionPenaltyLogitsProcessor(self.repetition_penalty)))
        if self.no_repeat_ngram_size > 0:
            out.append(("no-repeat n-gram", NoRepeatNGramLogitsProcessor(self.no_repeat_ngram_size)))
        if self.dry_multiplier > 0:
            breakers = samplers.breaker_ids(tokenizer) if tokenizer is not None else frozenset()
            out.append(("DRY", samplers.DRYLogitsProcessor(self.dry_multiplier, self.dry_base,
                                                           self.dry_allowed_length, breakers)))
        if self.mode != "sample":
            return out
        active = {
            "temperature": self.temperature != 1.0 and (lambda: TemperatureLogitsWarper(self.temperature)),
            "top_n_sigma": self.top_n_sigma > 0 and (lambda: samplers.TopNSigmaLogitsWarper(self.top_n_sigma)),
            "top_k": self.top_k > 0 and (lambda: TopKLogitsWarper(self.top_k)),
            "top_p": self.top_p < 1.0 and (lambda: TopPLogitsWarper(self.top_p)),
            "min_p": self.min_p > 0.0 and (lambda: MinPLogitsWarper(self.min_p)),
            "typical_p": self.typical_p < 1.0 and (lambda: TypicalLogitsWarper(mass=self.typical_p)),
            "epsilon": self.epsilon > 0.0 and (lambda: EpsilonLogitsWarper(self.epsilon)),
            "eta": self.eta > 0.0 and (lambda: EtaLogitsWarper(self.eta)),
            "xtc": self.xtc_probability > 0.0 and (lambda: samplers.XTCLogitsWarper(
                self.xtc_threshold, self.xtc_probability, xtc_generator(seed), samplers.xtc_exempt_ids(tokenizer))),
        }
        return out + [(STAGE_LABELS[name], active[name]()) for name in self.sampling_order() if active[name]]

    def inactive_controls(self) -> dict[str, str]:
        """Controls that do nothing in this mode, with the reason (the tab disables them and says why)."""
        why_sample = N_(f"only used when sampling (mode is {self.mode})")
        why_beam = N_(f"only used by beam search (mode is {self.mode})")
        off = {}
        if self.mode != "sample":
            off.update({k: why_sample for k in SAMPLE_ONLY})
        if self.mode != "beam":
            off.update({k: why_beam for k in ("num_beams", "length_penalty", "early_stopping", "num_return_sequences")})
        return off


INT_FIELDS = ("top_k", "no_repeat_ngram_size", "num_beams", "num_return_sequences", "max_new_tokens",
              "dry_allowed_length")
FLOAT_FIELDS = ("temperature", "top_p", "min_p", "typical_p", "epsilon", "eta", "top_n_sigma", "xtc_probability",
                "xtc_threshold", "dry_multiplier", "dry_base", "repetition_penalty", "length_penalty")
SAMPLE_ONLY = ("temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon", "eta", "top_n_sigma",
               "xtc_probability", "xtc_threshold", "order")


def xtc_generator(seed: int | None):
    """XTC's draws: their own CPU generator, from the run's seed (apart from the token draws, so turning XTC on
    does not change which uniform picks each token)."""
    import torch

    return torch.Generator().manual_seed((int(seed) + 0x5854) % 2**63) if seed is not None else None


PRESETS = {
    "Neutral": DecodeSettings(mode="sample"),
    "Greedy": DecodeSettings(mode="greedy"),
    "Beam": DecodeSettings(mode="beam", num_beams=4, length_penalty=1.0, early_stopping=True,
                           no_repeat_ngram_size=3),
    "Balanced": DecodeSettings(mode="sample", temperature=0.8, top_p=0.95, repetition_penalty=1.1),
    "Creative": DecodeSettings(mode="sample", temperature=1.2, top_k=100, top_p=0.98),
}
