"""Inside a causal language model, on demand for one context: attention per layer and head, and the logit lens.

Both come from the model's real weights in one forward pass over the context (not captured at every generation
step), for any transformers causal LM (the built-in GPT-2, a Hub GPT-2, the Llama family, ...):

- **Attention** (``attention``): every layer's softmax attention weights, shape (heads, T, T), from
  ``output_attentions=True``. A model loaded with SDPA or flash attention (transformers' default) computes them
  without ever forming the weights, so for this one pass the model is switched to its *eager* implementation (the
  same maths written out: softmax(QKᵀ/√d + mask)) and switched back. The view: for the query at the end of the
  context (the position that predicts the selected token), a heads × context map per layer, and one head's weights
  over the tokens (bertviz's head view, Vig 2019, https://arxiv.org/abs/1904.02679).
- **Logit lens** (``logit_lens``; nostalgebraist 2020,
  https://www.lesswrong.com/posts/AcKRB8wDpdaN6v6ru/interpreting-gpt-the-logit-lens): the residual stream after
  every layer read out as if it were the last: the model's final norm and unembedding applied to it, giving what
  each layer "would predict next". The last layer's reading is the model's own logits.

Everything returned is plain Python, ready for JSON and plots.
"""

from __future__ import annotations

import threading

import torch

from studio.i18n import N_

FINAL_NORMS = ("ln_f", "norm", "final_layernorm", "norm_f", "final_layer_norm")  # GPT-2, Llama/Mistral/Qwen, ...
_SWITCH = threading.Lock()  # one implementation switch at a time on a shared model


class NoAttentionWeights(ValueError):
    """The model gives no attention weights (not a transformer with softmax attention, or no eager path)."""


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _check_context(bundle, ids, max_tokens: int) -> list[int]:
    if not isinstance(ids, (list, tuple)) or not ids:
        raise ValueError("There is no context to look inside: generate or type a text first.")
    vocab = len(bundle.tokenizer)
    if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < max(vocab, bundle.model.config.vocab_size)
           for i in ids):
        raise ValueError("The context holds ids that are not tokens of this model.")
    limit = min(max_tokens, bundle.context_length)
    return list(ids)[-limit:]


@torch.inference_mode()
def attention(bundle, ids: list[int], *, max_tokens: int = 1024) -> dict:
    """Every layer's and head's attention from the last position of ``ids`` over ``ids``.

    Returns ``weights`` [layer][head][key position] (each row sums to 1), ``layers``, ``heads``, ``tokens``
    (their texts), ``implementation`` (what the model runs normally) and ``how`` (how the weights were obtained).
    Raises ``NoAttentionWeights`` for a model that cannot give them.
    """
    from studio.text.tokens import token_texts

    model = bundle.model
    ids = _check_context(bundle, ids, max_tokens)
    x = torch.tensor([ids], device=_device(model))
    normal = getattr(model.config, "_attn_implementation", None) or "eager"
    switched = normal != "eager"
    with _SWITCH:
        changed = False
        try:
            if switched:
                model.set_attn_implementation("eager")
                changed = True
            out = model(input_ids=x, attention_mask=torch.ones_like(x), output_attentions=True, use_cache=False)
        except (ValueError, NotImplementedError, AttributeError, TypeError) as e:
            raise NoAttentionWeights(f"{type(model).__name__} gives no attention weights ({e}).") from e
        finally:
            if changed:
                model.set_attn_implementation(normal)
    layers = [a for a in (getattr(out, "attentions", None) or ()) if a is not None]
    if not layers:
        raise NoAttentionWeights(f"{type(model).__name__} gives no attention weights: it is not a transformer with "
                                 "softmax attention (a state-space or recurrent model), so there is no map to show.")
    rows = torch.stack([a[0, :, -1, :].float().cpu() for a in layers])  # (L, H, T): the last query's row
    how = (N_(f"the model's eager attention, softmax(QKᵀ/√d + causal mask), for this one forward pass (it runs "
              f"{normal} otherwise, which never forms the weights)") if switched
           else N_("the model's own attention weights"))
    return {"weights": rows.tolist(), "layers": rows.shape[0], "heads": rows.shape[1], "ids": ids,
            "tokens": token_texts(bundle, ids), "implementation": normal, "how": how}


def final_norm(model):
    """The norm applied to the last residual stream before the unembedding (GPT-2's ``ln_f``, Llama's ``norm``)."""
    base = getattr(model, "base_model", model)
    for name in FINAL_NORMS:
        module = getattr(base, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    raise ValueError(f"The logit lens needs the model's final norm and {type(model).__name__} has none of "
                     f"{', '.join(FINAL_NORMS)}.")


@torch.inference_mode()
def logit_lens(bundle, ids: list[int], *, chosen: int | None = None, positions: int = 12, top: int = 5,
               max_tokens: int = 1024) -> dict:
    """What each layer would predict next at the last ``positions`` positions of ``ids``.

    Layer 0 is the embedding (before any block), layer l the residual stream after block l; each is read out as
    ``unembed(final_norm(h))``. At a position t the *target* is the token that came next: ``ids[t + 1]``, and at
    the last position ``chosen`` (the token the run picked; omitted: the model's own top token).

    Returns ``layers`` (names), ``positions`` (indices into ``ids``), ``tokens`` (texts at those positions),
    ``targets`` (ids) and ``target_texts``, and per [layer][position]: ``top`` [(token text, probability)],
    ``rank`` of the target (1 = the layer's top choice) and ``target_prob``; ``logits_last`` the last layer's
    logits at the last position (equal to the model's own, which a test checks).
    """
    from studio.text.tokens import token_text

    model, tok = bundle.model, bundle.tokenizer
    ids = _check_context(bundle, ids, max_tokens)
    norm, unembed = final_norm(model), model.get_output_embeddings()
    if unembed is None:
        raise ValueError(f"{type(model).__name__} has no output embedding to read the layers out with.")
    captured = {}
    hook = norm.register_forward_hook(lambda m, args, out: captured.__setitem__("pre_norm", args[0]))
    try:
        x = torch.tensor([ids], device=_device(model))
        out = model(input_ids=x, attention_mask=torch.ones_like(x), output_hidden_states=True, use_cache=False)
    finally:
        hook.remove()
    if "pre_norm" not in captured:
        raise ValueError("The model's final norm did not run: the logit lens cannot read its layers.")
    # hidden_states: the embeddings, then each block's output; transformers gives the last one already normed,
    # so the last block's own output is the final norm's input, captured above.
    streams = list(out.hidden_states[:-1]) + [captured["pre_norm"]]  # L + 1 of (1, T, d)
    n = min(int(positions), len(ids))
    sl = slice(len(ids) - n, len(ids))
    h = torch.stack([s[0, sl] for s in streams])  # (L + 1, n, d)
    probs = torch.softmax(unembed(norm(h)).float(), -1).cpu()  # (L + 1, n, V)
    logits_last = unembed(norm(h[-1, -1:])).float()[0].cpu()
    if chosen is None:
        chosen = int(logits_last.argmax())
    targets = ids[len(ids) - n + 1:] + [int(chosen)]
    target_t = torch.tensor(targets)
    target_p = probs[:, torch.arange(n), target_t]  # (L + 1, n)
    ranks = (probs > target_p[..., None]).sum(-1) + 1  # (L + 1, n)
    values, top_ids = probs.topk(min(top, probs.shape[-1]), -1)
    texts = {}

    def text(i):
        if i not in texts:
            texts[i] = token_text(tok, i)
        return texts[i]

    top_rows = [[[(text(i), p) for i, p in zip(ti, tv)] for ti, tv in zip(li, lv)]
                for li, lv in zip(top_ids.tolist(), values.tolist())]
    return {"layers": [N_("embedding"), *[N_(f"layer {k + 1}") for k in range(len(streams) - 1)]],
            "positions": list(range(len(ids) - n, len(ids))), "tokens": [text(i) for i in ids[sl]],
            "targets": targets, "target_texts": [text(i) for i in targets], "top": top_rows,
            "rank": ranks.tolist(), "target_prob": target_p.tolist(), "logits_last": logits_last.tolist()}
