"""Score any text under a model, token by token, the way GLTR does (Gehrmann, Strobelt and Rush 2019,
https://arxiv.org/abs/1906.04043): each token's rank among the model's predictions at its place (top 10 / 100 /
1000 / beyond), its probability and surprisal, a histogram of the ranks, and the perplexity of the whole.

A human-written passage has more tokens outside the model's top 10 than a passage the model sampled itself: the
lesson GLTR teaches, on any model the studio has.

Text longer than the model's context is scored with a sliding window (as in transformers' perplexity guide):
windows of the context length moving by half of it, so every token after the first window is scored with at
least half a context before it.
"""

from __future__ import annotations

import math

import torch

BUCKETS = ((10, "top 10"), (100, "top 100"), (1000, "top 1000"), (None, "beyond"))


def bucket(rank: int) -> str:
    for limit, name in BUCKETS:
        if limit is None or rank <= limit:
            return name
    raise AssertionError


@torch.inference_mode()
def score(bundle, text: str, *, max_tokens: int = 4096, stride: int | None = None) -> dict:
    """Every token of ``text`` scored under the model, given all the text before it (within the window).

    The first token is scored after the beginning-of-text token when the model has one (else it is not scored).

    Returns ``tokens``: per token its ``id``, ``text`` (a character spread over byte tokens shown whole on its last
    token, as ``engine.tokenize``), ``rank`` (1 = the model's top choice), ``prob``, ``surprisal`` (nats),
    ``bucket`` and ``top`` (the model's choice there); ``histogram`` {bucket: count}; ``perplexity``,
    ``mean_surprisal``, ``scored``, ``windows``.
    """
    from studio.text.tokens import token_text, tokenize

    if not isinstance(text, str) or not text.strip():
        raise ValueError("Paste or type a passage to score.")
    pieces = tokenize(bundle, text, max_chars=max_tokens * 16)["pieces"]
    if len(pieces) > max_tokens:
        raise ValueError(f"The passage is {len(pieces):,} tokens; at most {max_tokens:,} are scored here.")
    tok, model = bundle.tokenizer, bundle.model
    device = next(model.parameters()).device
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    ids = ([start] if start is not None else []) + [p["id"] for p in pieces]
    offset = 1 if start is not None else 0  # ids[offset + k] is piece k
    window = bundle.context_length
    stride = max(1, window // 2) if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= window - 1:
        # stride = window would score the first token of each new window from the wrong row (it has nothing of
        # that window before it); every token needs at least one token of context inside its window
        raise ValueError(f"stride must be a whole number in [1, {window - 1}] (less than the model's context of "
                         f"{window} tokens), got {stride!r}.")
    logp = torch.full((len(ids),), float("nan"))
    ranks = torch.zeros(len(ids), dtype=torch.long)
    tops = torch.zeros(len(ids), dtype=torch.long)
    scored_to, windows, begin = 1, 0, 0  # ids[:scored_to] are done (ids[0] has nothing before it)
    while scored_to < len(ids):
        end = min(begin + window, len(ids))
        x = torch.tensor([ids[begin:end]], device=device)
        logits = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).logits[0].float().cpu()
        windows += 1
        lp = torch.log_softmax(logits, -1)  # (W, V): row j predicts ids[begin + j + 1]
        targets = torch.arange(scored_to, end)
        rows = lp[targets - begin - 1]  # (n, V)
        chosen = rows.gather(1, torch.tensor([ids[t] for t in targets])[:, None])[:, 0]
        logp[targets] = chosen
        ranks[targets] = (rows > chosen[:, None]).sum(-1) + 1
        tops[targets] = rows.argmax(-1)
        scored_to = end
        if end == len(ids):
            break
        begin += stride
    out, hist = [], {name: 0 for _, name in BUCKETS}
    for k, p in enumerate(pieces):
        i = offset + k
        if i == 0:  # no start token: the first token has nothing before it
            out.append({"id": p["id"], "text": p["text"], "rank": None, "prob": None, "surprisal": None,
                        "bucket": None, "top": None})
            continue
        rank = int(ranks[i])
        hist[bucket(rank)] += 1
        out.append({"id": p["id"], "text": p["text"], "rank": rank, "prob": math.exp(float(logp[i])),
                    "surprisal": -float(logp[i]), "bucket": bucket(rank), "top": token_text(tok, int(tops[i]))})
    surprisals = [t["surprisal"] for t in out if t["surprisal"] is not None]
    if not surprisals:
        raise ValueError("The passage is a single token and this model has no beginning-of-text token: nothing "
                         "to score it after. Give a longer passage.")
    mean = sum(surprisals) / len(surprisals)
    return {"tokens": out, "histogram": hist, "scored": len(surprisals), "mean_surprisal": mean,
            "perplexity": math.exp(mean), "windows": windows, "window": window, "stride": stride}
