"""Three sampling stages transformers does not ship, written as its ``LogitsProcessor``s so they run in the same
chain as its own (``DecodeSettings.stages``) and in ``model.generate(logits_processor=...)``:

- ``TopNSigmaLogitsWarper``: top-nσ (Tang et al. 2024, "Top-nσ: Not All Logits Are You Need",
  https://arxiv.org/abs/2411.07641): keep the tokens whose logit is within n standard deviations of the largest.
- ``XTCLogitsWarper``: XTC, "exclude top choices" (text-generation-webui PR #6335,
  https://github.com/oobabooga/text-generation-webui/pull/6335): with probability ``probability``, remove every
  token above ``threshold`` except the least likely of them, so the obvious choice is sometimes not taken.
- ``DRYLogitsProcessor``: DRY, "don't repeat yourself" (text-generation-webui PR #5677,
  https://github.com/oobabooga/text-generation-webui/pull/5677): a token that would extend a repetition of an
  earlier passage of at least ``allowed_length`` tokens loses ``multiplier × base^(length − allowed_length)``
  from its logit.

Each takes and returns scores of shape (batch, V) given the ids (batch, T), as transformers' processors do.
"""

from __future__ import annotations

import torch
from transformers.generation.logits_process import LogitsProcessor

DRY_BREAKERS = ("\n", ":", '"', "*")  # text-generation-webui's default sequence breakers


class TopNSigmaLogitsWarper(LogitsProcessor):
    """Keep tokens with logit ≥ max − n·σ, σ the standard deviation of the (finite) logits; the rest → −inf.

    Computed on the finite logits only, so it can follow a filter that already removed tokens. Scaling the logits
    (temperature) scales max and σ alike: the kept set does not depend on the temperature.
    """

    def __init__(self, n: float):
        if not n > 0:
            raise ValueError(f"top_n_sigma must be > 0, got {n}.")
        self.n = float(n)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        finite = torch.isfinite(scores)  # (B, V)
        count = finite.sum(-1, keepdim=True).clamp_min(1)  # (B, 1)
        safe = torch.where(finite, scores, torch.zeros_like(scores))
        mean = safe.sum(-1, keepdim=True) / count
        var = (torch.where(finite, scores - mean, torch.zeros_like(scores)) ** 2).sum(-1, keepdim=True) / count
        top = scores.max(-1, keepdim=True).values
        keep = scores >= top - self.n * var.sqrt()
        return scores.masked_fill(~keep, -float("inf"))


class XTCLogitsWarper(LogitsProcessor):
    """With probability ``probability`` (one draw per call from ``generator``): if two or more tokens have
    probability ≥ ``threshold``, remove all of them but the least likely. Otherwise leave the scores alone.

    As text-generation-webui's XTC (modules/sampler_hijack.py): when a token of ``exempt_ids`` (newline and
    end-of-text: :func:`xtc_exempt_ids`) would be removed, the scores are left alone, so XTC never stops a line or
    a text from ending. Only tokens still in the running (finite scores) count: a token an earlier stage removed
    is neither "above" nor the one kept, so no threshold (0 included) leaves nothing to draw.

    ``last_applied`` says whether the draw fired at the last call (the tab shows it). As in the original, no
    token other than those above the threshold is touched, so the tail is never promoted over them."""

    def __init__(self, threshold: float, probability: float, generator: torch.Generator | None = None,
                 exempt_ids=()):
        self.threshold, self.probability = float(threshold), float(probability)
        self.generator = generator
        self.exempt = sorted({int(i) for i in exempt_ids})
        self.last_applied = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        draw = float(torch.rand((), generator=self.generator, dtype=torch.float64))
        self.last_applied = draw < self.probability
        if not self.last_applied:
            return scores
        probs = torch.softmax(scores.float(), -1)  # (B, V)
        above = (probs >= self.threshold) & torch.isfinite(scores)
        out = scores.clone()
        for b in range(scores.shape[0]):
            idx = above[b].nonzero().flatten()
            if len(idx) < 2:
                continue
            keep = idx[probs[b, idx].argmin()]
            removed = idx[idx != keep]
            if self.exempt and bool(torch.isin(removed, torch.tensor(self.exempt, device=removed.device)).any()):
                continue  # newline or end-of-text would go: this row's scores stay as they are
            out[b, removed] = -float("inf")
        return out


def xtc_exempt_ids(tokenizer) -> frozenset:
    """The tokens XTC never removes, as text-generation-webui chooses them: the last id of encoding a newline,
    and the end-of-text id."""
    if tokenizer is None:
        return frozenset()
    out = set()
    ids = tokenizer("\n", add_special_tokens=False)["input_ids"]
    if ids:
        out.add(int(ids[-1]))
    if tokenizer.eos_token_id is not None:
        out.add(int(tokenizer.eos_token_id))
    return frozenset(out)


class DRYLogitsProcessor(LogitsProcessor):
    """Penalise the tokens that would continue a repeated passage.

    For every earlier occurrence (at position i) of the context's last token, the match length m is how many
    tokens, ending at i, equal the tokens ending the context (a sequence breaker stops the count, as does
    ``max_match``); the token that followed (at i + 1) would make the repeat one longer. A token whose longest such
    m reaches ``allowed_length`` loses ``multiplier × base^(m − allowed_length)`` from its logit. Tokens after a
    breaker are never penalised. ``penalty_last_n`` (0 = all) limits how far back to look.
    """

    def __init__(self, multiplier: float, base: float = 1.75, allowed_length: int = 2,
                 breaker_ids: set | frozenset = frozenset(), penalty_last_n: int = 0, max_match: int = 50):
        self.multiplier, self.base, self.allowed_length = float(multiplier), float(base), int(allowed_length)
        self.breakers = frozenset(int(i) for i in breaker_ids)
        self.penalty_last_n, self.max_match = int(penalty_last_n), int(max_match)

    def penalties(self, ids: list[int]) -> dict[int, float]:
        """token id -> the amount subtracted from its logit, for one context ``ids``."""
        if self.penalty_last_n > 0:
            ids = ids[-self.penalty_last_n:]
        n = len(ids)
        if n < 2 or ids[-1] in self.breakers:
            return {}
        longest: dict[int, int] = {}
        for i in range(n - 1):  # an earlier occurrence of the last token, followed by ids[i + 1]
            if ids[i] != ids[-1]:
                continue
            following = ids[i + 1]
            if following in self.breakers:
                continue
            m = 0
            while m < self.max_match and i - m >= 0 and ids[i - m] == ids[n - 1 - m] and ids[i - m] not in self.breakers:
                m += 1
            if m > longest.get(following, 0):
                longest[following] = m
        return {t: self.multiplier * self.base ** (m - self.allowed_length)
                for t, m in longest.items() if m >= self.allowed_length}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        out = scores.clone()
        for b, row in enumerate(input_ids.tolist()):
            for token, amount in self.penalties(row).items():
                out[b, token] -= amount
        return out


def breaker_ids(tokenizer, breakers=DRY_BREAKERS) -> frozenset:
    """The ids of the tokens that are exactly one of ``breakers`` (the tokenizer's own single-token spelling)."""
    out = set()
    for text in breakers:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            out.add(int(ids[0]))
    return frozenset(out)
