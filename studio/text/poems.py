"""Measuring a model of the Tang poems: form accuracy, and the bigram baseline it is compared with.

**Form accuracy.** The first line of a held-out poem whose half-lines all have 5 (or all 7) characters is the
prompt, e.g. ``床前明月光，疑是地上霜。``; the model continues with the Text tab's default settings (the
"Balanced" preset: temperature 0.8, top-p 0.95, repetition penalty 1.1) and its own seed per prompt. Every
*complete* generated line (up to the poem's end, a blank line, or the token budget; a last line cut off by the
budget is not counted) is split into half-lines at its punctuation (，。？！；：、); the line has the form when
every half-line has the prompt's length. Form accuracy = lines with the form / lines counted.

**The bigram baseline.** An interpolated bigram over the same tokens (Witten–Bell: P(b | a) =
λ_a·c(a, b)/c(a) + (1 − λ_a)·P(b), λ_a = c(a)/(c(a) + number of distinct followers of a), P(b) add-one), wrapped as
a causal LM whose logits are its log-probabilities: the same scoring code gives its held-out nats/char and the
same decoding code (the studio's engine, every stage) its form accuracy.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import torch

BREAKS = "，。？！；：、"
HALF_LINE = re.compile(f"[^{BREAKS}]+")
FORM_PROMPTS = 100  # held-out poems used as prompts (the first that qualify, in file order)
FORM_MAX_NEW_TOKENS = 56  # room for three 7-character lines (16 characters each with the newline)
# The spot figures (eval.json's "spot"): the same measures on the first tenth of the held-out poems and the first
# 20 prompts, which a test re-measures in a tenth of the time to show the shipped figures are this model's.
SPOT_SHARE, SPOT_PROMPTS = 10, 20


def half_line_lengths(line: str) -> list[int]:
    """The length of each half-line of ``line`` (its text between punctuation marks)."""
    return [len(part) for part in HALF_LINE.findall(line.strip())]


def form_prompts(heldout_poems: list[str], n: int = FORM_PROMPTS) -> list[tuple[str, int]]:
    """(first line, its half-line length) for the first ``n`` held-out poems whose first line has two or more
    half-lines, all of 5 or all of 7 characters, and ends a sentence."""
    out = []
    for poem in heldout_poems:
        first = poem.split("\n", 1)[0]
        lengths = half_line_lengths(first)
        if len(lengths) >= 2 and len(set(lengths)) == 1 and lengths[0] in (5, 7) and first[-1:] in "。？！":
            out.append((first, lengths[0]))
            if len(out) == n:
                break
    return out


def complete_lines(generated: str, hit_budget: bool) -> list[str]:
    """The complete lines of a continuation: up to the poem's end (a blank line); a last line without its closing
    punctuation is dropped when the token budget cut it off."""
    body = generated.split("\n\n", 1)  # the poem ends at a blank line (at once, if the prompt was its only line)
    ended = len(body) > 1
    lines = [line for line in body[0].split("\n") if line.strip()]
    if lines and not ended and hit_budget and lines[-1][-1:] not in "。？！；":
        lines = lines[:-1]
    return lines


def form_accuracy(bundle, prompts: list[tuple[str, int]], *, settings: dict, seed: int = 1000) -> dict:
    """Generate from each prompt (seed ``seed + i``) with the engine and count lines with the prompt's form."""
    from studio.text.engine import generate

    per_prompt = []  # (lines with the form, lines counted) for each prompt
    examples = []
    for i, (prompt, length) in enumerate(prompts):
        run = generate(bundle, seed=seed + i, prompt=prompt, **settings)
        generated = run.text[len(run.prompt):]
        lines = complete_lines(generated, hit_budget=run.stopped == "max_new_tokens")
        halves = [half_line_lengths(line) for line in lines]
        ok = [bool(h) and all(n == length for n in h) for h in halves]
        per_prompt.append((sum(ok), len(ok)))
        if len(examples) < 3:
            examples.append(prompt + generated)
    return {**_share(per_prompt), "prompts": len(prompts), "examples": examples, "per_prompt": per_prompt}


def _share(per_prompt: list[tuple[int, int]]) -> dict:
    good, total = sum(g for g, _ in per_prompt), sum(t for _, t in per_prompt)
    return {"form_accuracy": round(good / total, 4) if total else 0.0, "lines": total}


class BigramLM(torch.nn.Module):
    """An interpolated (Witten–Bell) bigram over token ids, answering like a transformers causal LM: ``logits`` are
    log-probabilities of the next token given the last one."""

    def __init__(self, ids: torch.Tensor, vocab_size: int):
        super().__init__()
        v = vocab_size
        pairs = torch.bincount(ids[:-1] * v + ids[1:], minlength=v * v).reshape(v, v).double()  # (V, V)
        unigram = (torch.bincount(ids, minlength=v).double() + 1) / (len(ids) + v)  # (V,) add-one
        count = pairs.sum(1, keepdim=True)  # (V, 1)
        followers = (pairs > 0).sum(1, keepdim=True).double()
        lam = torch.where(count > 0, count / (count + followers).clamp(min=1), torch.zeros_like(count))
        probs = lam * pairs / count.clamp(min=1) + (1 - lam) * unigram[None]  # (V, V), rows sum to 1
        self.register_buffer("table", probs.log().float())
        self.dummy = torch.nn.Parameter(torch.zeros(()), requires_grad=False)  # so .parameters() has a device

    def forward(self, input_ids=None, past_key_values=None, use_cache=False, **_):
        return SimpleNamespace(logits=self.table[input_ids], past_key_values=None)  # (B, T, V)


def bigram_bundle(tokenizer, train_text: str, *, context_length: int):
    from studio.text.loader import TextBundle

    ids = torch.tensor(tokenizer(train_text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    model = BigramLM(ids, len(tokenizer)).eval()
    return TextBundle(model=model, tokenizer=tokenizer, generation_config=None, context_length=context_length)


def form_settings() -> dict:
    """The decoding of form accuracy: the Text tab's default preset, ``FORM_MAX_NEW_TOKENS`` new tokens."""
    from dataclasses import asdict

    from studio.text.settings import PRESETS

    return {**asdict(PRESETS["Balanced"]), "max_new_tokens": FORM_MAX_NEW_TOKENS}


def evaluate_poems(bundle, data_dir=None, *, score, script: str = "simplified", baseline: bool = True) -> dict:
    """The figures of a Tang-poem model: held-out nats/char (``score``: ``studio.text.evaluate``'s
    ``heldout_nats_per_char``, which calls this), form accuracy; and the bigram baseline's two; and the spot
    figures (:func:`spot_figures`)."""
    from studio.data import load_tang

    held = load_tang("heldout", data_dir, script=script)
    text = "".join(held)
    settings = form_settings()
    prompts = form_prompts(held)
    with torch.no_grad():
        nats = score(bundle, text)
        form = form_accuracy(bundle, prompts, settings=settings)
        out = {"heldout_nats_per_char": round(nats["heldout_nats_per_char"], 4),
               "form_accuracy": form["form_accuracy"]}
        out["spot"] = spot_figures(bundle, held, score=score, settings=settings, per_prompt=form["per_prompt"])
        base = {}
        if baseline:
            train = "".join(load_tang("train", data_dir, script=script))
            bigram = bigram_bundle(bundle.tokenizer, train, context_length=bundle.context_length)
            out["bigram_heldout_nats_per_char"] = round(score(bigram, text)["heldout_nats_per_char"], 4)
            base = form_accuracy(bigram, prompts, settings=settings)
            out["bigram_form_accuracy"] = base["form_accuracy"]
    out["settings"] = {
        "corpus": "tang", "text": f"the Tang poems, every 10th poem held out ({script} characters)",
        "n_chars": nats["n_chars"], "n_tokens": nats["n_tokens"], "window": nats["window"], "stride": nats["stride"],
        "form": {"prompts": form["prompts"], "lines": form["lines"], "bigram_lines": base.get("lines"),
                 "decoding": "the Text tab's defaults (Balanced: temperature 0.8, top-p 0.95, repetition penalty 1.1)",
                 "max_new_tokens": FORM_MAX_NEW_TOKENS, "seeds": "1000 + prompt index"},
        "examples": form["examples"]}
    return out


def spot_figures(bundle, held: list[str], *, score, settings: dict, per_prompt=None) -> dict:
    """eval.json's ``spot``: nats/char on the first tenth of the held-out poems, form accuracy on the first
    ``SPOT_PROMPTS`` prompts (their lines are those of the full run: each prompt has its own seed, so
    ``per_prompt`` from that run is reused when given)."""
    prompts = form_prompts(held)[:SPOT_PROMPTS]
    if per_prompt is None:
        per_prompt = form_accuracy(bundle, prompts, settings=settings)["per_prompt"]
    poems = held[:len(held) // SPOT_SHARE]
    with torch.no_grad():
        nats = score(bundle, "".join(poems))["heldout_nats_per_char"]
    return {"heldout_nats_per_char": round(nats, 4), "form_accuracy": _share(per_prompt[:SPOT_PROMPTS])["form_accuracy"],
            "poems": len(poems), "prompts": len(prompts)}


CARD_START, CARD_END = "<!-- eval harness: start -->", "<!-- eval harness: end -->"


def write_card_figures(folder, figures: dict) -> None:
    """Put the eval harness's Tang figures (form accuracy, the bigram's two) into the card's Measured quality
    section, between markers, replacing what an earlier run put there."""
    from pathlib import Path

    path = Path(folder) / "README.md"
    card = path.read_text(encoding="utf-8")
    form = figures["settings"]["form"]
    block = "\n".join([
        CARD_START,
        "| figure (`python -m studio.eval text --json`) | this model | interpolated bigram (same tokens) |",
        "|---|---|---|",
        f"| held-out nats/char | **{figures['heldout_nats_per_char']:.3f}** | "
        f"{figures['bigram_heldout_nats_per_char']:.3f} |",
        f"| form accuracy ({form['prompts']} held-out first lines as prompts; lines counted: "
        f"{form['lines']} / {form['bigram_lines']}) | **{figures['form_accuracy']:.3f}** | "
        f"{figures['bigram_form_accuracy']:.3f} |",
        "",
        "Form accuracy: the share of generated lines whose half-lines all have the prompt's length (5 or 7), "
        f"decoding with {form['decoding']}, at most {form['max_new_tokens']} new tokens, seeds "
        f"{form['seeds']} (`studio/text/poems.py`).",
        CARD_END])
    if CARD_START in card:
        card = card[:card.index(CARD_START)] + block + card[card.index(CARD_END) + len(CARD_END):]
    else:  # before the training section (a card without one: at its end)
        at = card.find("## Training")
        at = len(card) if at < 0 else at
        card = card[:at].rstrip("\n") + "\n\n" + block + "\n\n" + card[at:]
    path.write_text(card, encoding="utf-8")
