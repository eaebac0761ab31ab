"""Several users' text runs decoded in one batch: one forward pass a step for every row still generating, each row
shaped, picked and recorded exactly as ``engine.stream`` does alone. The Text tab's Generate goes through it
(studio/serving/batcher.py gathers the requests); ``tests/test_serving.py`` holds each row to its run alone.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Iterator

import torch

from studio.serving.batcher import Last
from studio.text.engine import DecodeSettings, Reader, TextRun, draw_uniforms, pick, record, shape


def fits_one_window(bundle, prompt_ids: list, settings: DecodeSettings) -> bool:
    """Whether a run stays inside the model's context (no sliding window): what :func:`stream_many` needs."""
    return len(prompt_ids) + settings.max_new_tokens <= bundle.context_length


@torch.inference_mode()
def stream_many(bundle, requests: list[dict], live=None, *, counter: list | None = None) -> Iterator[list]:
    """Several users' runs decoded together: one forward pass per step for every row still generating, each
    row shaped, picked and recorded exactly as :func:`stream` does alone (its own settings, stages, seed and
    uniforms). ``requests``: dicts with ``prompt_ids``, ``notices``, ``settings`` (validated, not beam) and
    ``seed``; each must :func:`fits_one_window`. Yields, per step, one ``(step, run so far)`` per request, wrapped
    in ``batcher.Last`` at the request's last token (its user has the whole run at once, not when the batch's
    longest row ends), or None for a request that already finished. ``live(i)`` (the batcher's): False once
    request i's user left (Stop, a closed page): its row leaves the batch and is computed no longer.

    The prompts are left-padded to one length; the attention mask hides the padding and the position ids count
    only real tokens, so each row's logits are its own run's (to float rounding). A row that finishes leaves the
    batch (its keys and values are dropped from the cache).
    """
    model, tok = bundle.model, bundle.tokenizer
    device = next(model.parameters()).device
    eos = tok.eos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else (eos if eos is not None else 0)
    rows = []
    for req in requests:
        s, ids = req["settings"], list(req["prompt_ids"])
        if s.mode == "beam" or not fits_one_window(bundle, ids, s):
            raise ValueError("stream_many takes sampled or greedy runs that fit in one context window.")
        prompt_text = tok.decode(ids, clean_up_tokenization_spaces=False)
        stages = s.stages(tokenizer=tok, seed=req["seed"])
        context = torch.empty(1, len(ids) + s.max_new_tokens, dtype=torch.long)
        context[0, :len(ids)] = torch.tensor(ids)
        run = TextRun(prompt=prompt_text, prompt_ids=ids, steps=[], text=prompt_text,
                      notices=list(req.get("notices", [])), settings=asdict(s), seed=req["seed"])
        run.stopped = "max_new_tokens"
        rows.append({"s": s, "n_prompt": len(ids), "length": len(ids), "context": context, "run": run,
                     "stages": stages, "names": [n for n, _ in stages], "reader": Reader(tok),
                     "uniforms": draw_uniforms(req["seed"], s.max_new_tokens), "prompt_text": prompt_text})
    width = max(r["n_prompt"] for r in rows)
    feed = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, L) left-padded prompts
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        feed[b, width - r["n_prompt"]:] = r["context"][0, :r["n_prompt"]]
        mask[b, width - r["n_prompt"]:] = 1
    positions = (mask.cumsum(-1) - 1).clamp_min(0)  # each row counts its own tokens from 0
    active = list(range(len(rows)))  # rows in the batch, in batch order
    past = None
    for i in range(max(r["s"].max_new_tokens for r in rows)):
        out = model(input_ids=feed.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                    past_key_values=past, use_cache=True)
        if counter is not None:
            counter.append(1)
        past = out.past_key_values
        logits = out.logits[:, -1].float().cpu()  # (B_active, V)
        results: list = [None] * len(rows)
        next_ids, keep = [], []
        for j, b in enumerate(active):
            if live is not None and not live(b):  # its user left: not computed for any longer
                continue
            r, s = rows[b], rows[b]["s"]
            _, probs = shape(logits[j], r["context"][:, :r["length"]], r["stages"])
            u = r["uniforms"][i] if s.mode == "sample" else None
            token_id = pick(probs[-1], s.mode, u)
            step = record(i, token_id, probs, r["names"], tok, u)
            step.shown = r["reader"].feed(token_id, step.token)
            run = r["run"]
            run.steps.append(step)
            r["context"][0, r["length"]] = token_id
            r["length"] += 1
            run.text += step.token
            at_eos = token_id == eos
            last = i == s.max_new_tokens - 1 or at_eos
            if last:
                run.text = r["prompt_text"] + tok.decode(r["context"][0, r["n_prompt"]:r["length"]].tolist(),
                                                         clean_up_tokenization_spaces=False)
                if at_eos:
                    run.stopped = "eos"
            else:
                keep.append(j)
                next_ids.append(token_id)
            # a snapshot: the consumer reads it in another thread while this loop goes on with the run
            results[b] = (step, replace(run, steps=list(run.steps)))
            if last:
                results[b] = Last(results[b])
        yield results
        if not keep:
            return
        if len(keep) < len(active):  # finished rows leave the batch
            index = torch.tensor(keep)
            past.batch_select_indices(index.to(device))
            mask, positions = mask[index], positions[index]
            active = [active[j] for j in keep]
        feed = torch.tensor(next_ids, dtype=torch.long)[:, None]  # (B_active, 1)
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=torch.long)], dim=1)
        positions = positions[:, -1:] + 1
