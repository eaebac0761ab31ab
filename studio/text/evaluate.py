"""Held-out likelihood of a causal LM in nats per character, whatever its tokenizer.

nats/char = (total negative log-likelihood of the held-out text, in nats) / (number of characters).
A tokenizer with long tokens pays more nats per token over fewer tokens, so this compares a char-level model,
a BPE model and GPT-2 on the same scale (nanoGPT's shakespeare-char: 1.47 on a GPU, 1.88 small on a CPU).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F


@torch.no_grad()
def heldout_nats_per_char(bundle, text: str, *, window: int | None = None, stride: int | None = None,
                          batch_size: int = 8) -> dict:
    """Score ``text`` with a sliding window; every token is predicted exactly once, with up to ``window`` - 1
    tokens of context (at least ``window - stride``).

    Args:
        bundle (`TextBundle`): model + tokenizer from the registry.
        text (`str`): the text to score.
        window (`int`, *optional*): tokens per forward pass; defaults to the model's context length.
        stride (`int`, *optional*): how far the window moves; defaults to ``window // 2``.
        batch_size (`int`, defaults to 8): windows per forward pass.
    """
    if not text:
        raise ValueError("text to score is empty")
    model, tok = bundle.model, bundle.tokenizer
    window = min(window or bundle.context_length, bundle.context_length)
    stride = stride or max(window // 2, 1)
    if not 0 < stride <= window - 1:
        raise ValueError(f"stride must be in [1, window - 1], got {stride} for window {window}")
    device = next(model.parameters()).device
    start_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    ids = tok(text, add_special_tokens=False)["input_ids"]
    seq = torch.tensor(([start_id] if start_id is not None else []) + ids)  # (N,) the first token is a "start"
    n = len(seq)
    # 1. Windows [begin, begin + window); in each, count only targets not counted by the previous window.
    jobs = []  # (begin, end, first target position counted)
    counted_to = 1
    begin = 0
    while counted_to < n:
        end = min(begin + window, n)
        jobs.append((begin, end, counted_to))
        counted_to = end
        begin += stride
        if end == n:
            break
    total_nats, n_targets = 0.0, 0
    t0 = time.perf_counter()
    # 2. Batch the full-length windows; the last (shorter) one runs alone.
    full = [j for j in jobs if j[1] - j[0] == window]
    rest = [j for j in jobs if j[1] - j[0] != window]
    groups = [full[i:i + batch_size] for i in range(0, len(full), batch_size)] + [[j] for j in rest]
    for group in groups:
        x = torch.stack([seq[b:e] for b, e, _ in group]).to(device)  # (B, W)
        logits = model(x).logits.float()  # (B, W, V)
        logp = F.log_softmax(logits[:, :-1], dim=-1)  # (B, W-1, V): position i predicts token i+1
        nll = -logp.gather(-1, x[:, 1:, None])[..., 0]  # (B, W-1)
        for row, (b, e, first) in enumerate(group):
            keep = nll[row, first - b - 1:]  # targets at positions first..e-1
            total_nats += keep.sum().item()
            n_targets += keep.numel()
    assert n_targets == n - 1, (n_targets, n)
    return {"heldout_nats_per_char": total_nats / len(text), "nats_per_token": total_nats / n_targets,
            "n_chars": len(text), "n_tokens": n_targets, "window": window, "stride": stride,
            "seconds": round(time.perf_counter() - t0, 1)}


def evaluate_checkpoint(registry, key: str, *, data_dir=None, judge_key=None) -> dict:
    """The eval harness's text figures for ``key``, on the held-out part of the corpus it was trained on: nats/char
    on the last 10% of Tiny Shakespeare; or, for the Tang poems, nats/char on every 10th poem, form accuracy, and
    the bigram baseline's two figures (``studio/text/poems.py``)."""
    from studio.text.corpora import card_field

    corpus = card_field(registry.spec(key), "corpus", "shakespeare")
    if corpus == "tang":
        from studio.text.poems import evaluate_poems

        return evaluate_poems(registry.get(key), data_dir, score=heldout_nats_per_char)
    from studio.data import load_shakespeare

    text = load_shakespeare("heldout", data_dir)
    result = heldout_nats_per_char(registry.get(key), text)
    return {"heldout_nats_per_char": round(result["heldout_nats_per_char"], 4),
            "settings": {"corpus": "shakespeare", "text": "Tiny Shakespeare, last 10% of characters",
                         "n_chars": result["n_chars"], "n_tokens": result["n_tokens"], "window": result["window"],
                         "stride": result["stride"]}}


def tang_spot_check(bundle, data_dir=None, *, script: str = "simplified") -> dict:
    """A Tang model's spot figures (eval.json's ``spot``, ``studio.text.poems.spot_figures``) measured alone: about a
    tenth of the harness's time."""
    from studio.data import load_tang
    from studio.text.poems import form_settings, spot_figures

    return spot_figures(bundle, load_tang("heldout", data_dir, script=script), score=heldout_nats_per_char,
                        settings=form_settings())
