"""The decoding engine: next-token distributions shaped step by step, and sampling you can see.

The loop is written out (not hidden in ``model.generate``) because showing it is the point:

1. run the model on the context (a KV cache makes each step one token's work) -> raw logits z (V,)
2. shape them with logits processors (transformers' own, and three written in ``samplers.py``): the penalties
   repetition penalty -> no-repeat n-gram -> DRY (every mode), then the sampling stages, by default in the order
   ``generate`` applies them: temperature -> top-nσ -> top-k -> top-p -> min-p -> typical-p -> epsilon -> eta
   -> XTC (top-nσ and XTC placed as text-generation-webui does; ``DecodeSettings.order`` rearranges them)
3. keep the distribution after every stage (softmax of the scores), its top candidates and the mass kept
4. pick the next token: greedy = argmax; sampling = inverse CDF of the final distribution at a uniform
   draw u_t, tokens in id order. One u_t per step, drawn up front from the run's seeded CPU generator, so
   several settings can share the same randomness (``compare``): only the shaping differs.

Everything returned is plain Python (lists, floats, strings), ready for JSON, ``gr.State`` and plots. The
controls themselves (``DecodeSettings``, their checks and the presets) are in ``studio/text/settings.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Iterator

import torch

from studio import checks
from studio.device import make_generator, resolve_seed  # noqa: F401 (resolve_seed is used by the tab)
from studio.i18n import N_
from studio.recipe import engine_action
from studio.serving.gate import interleave
from studio.text.settings import MODES, PRESETS, DecodeSettings  # noqa: F401 (the tab and tests read them here)
from studio.text.tokens import Reader, token_text, token_texts, tokenize  # noqa: F401 (read here by the tabs, tests)

TOP_N = 12  # candidates kept per stage per step (enough for the bar charts; the full vocab is not stored)


@dataclass
class Stage:
    name: str
    top: list  # [(token id, probability)] of the TOP_N most likely after this stage, most likely first
    chosen_prob: float  # probability of the token that was picked, after this stage
    kept_mass: float  # probability mass of the previous stage's distribution that survives this stage
    n_kept: int  # tokens with non-zero probability after this stage


@dataclass
class Step:
    index: int  # 0 = first generated token
    token_id: int
    token: str  # the token's text
    prob: float  # probability under the final (sampling) distribution
    raw_prob: float  # probability under the model (temperature 1, no filters)
    surprisal: float  # −ln raw_prob, nats
    entropy: float  # entropy of the raw distribution, nats
    u: float | None  # the uniform draw that picked it (sampling), else None
    stages: list = field(default_factory=list)  # [Stage] raw first, then each active stage
    shown: str | None = None  # the text it adds when read in sequence ("" for the first bytes of a character)


@dataclass
class TextRun:
    prompt: str
    prompt_ids: list
    steps: list  # [Step]
    text: str  # prompt + generation
    notices: list  # what was adjusted and why (empty prompt, truncation), shown to the user
    settings: dict
    seed: int | None
    stopped: str = ""  # "eos", "max_new_tokens" or "cancelled"
    beams: list = field(default_factory=list)  # beam mode: [(text, score)], best first
    beam_ids: list = field(default_factory=list)  # beam mode: each beam's generated ids, cut at its end token

    @property
    def logprob(self) -> float:
        """Sequence log-probability of the generated tokens under the model (nats)."""
        return float(sum(-s.surprisal for s in self.steps))

    @property
    def perplexity(self) -> float:
        return float(math.exp(-self.logprob / len(self.steps))) if self.steps else float("nan")

    def to_dict(self) -> dict:
        """Plain JSON-able data (what the tab keeps in its ``gr.State``). Built field by field: ``asdict``'s
        recursive deep copy was a fifth of the Text tab's streaming time (benchmarks/tab_paths.py profile)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(prompt_ids=list(self.prompt_ids), notices=list(self.notices), settings=dict(self.settings),
                 beams=[tuple(b) for b in self.beams], beam_ids=[list(b) for b in self.beam_ids], logprob=self.logprob, perplexity=self.perplexity,
                 steps=[{**vars(s), "stages": [{**vars(g), "top": list(g.top)} for g in s.stages]}
                        for s in self.steps])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TextRun":
        d = {k: v for k, v in d.items() if k not in ("logprob", "perplexity")}
        d["steps"] = [Step(**{**s, "stages": [Stage(**g) for g in s["stages"]]}) for s in d["steps"]]
        return cls(**d)


# --- building blocks -------------------------------------------------------------------------------------

def prepare_prompt(bundle, prompt: str) -> tuple[list[int], list[str]]:
    """Token ids for ``prompt`` and notices: an empty prompt starts from the beginning-of-text token; a prompt
    longer than the context keeps its last tokens."""
    if not isinstance(prompt, str):
        raise ValueError(f"The prompt must be text, got {type(prompt).__name__}.")
    tok, notices = bundle.tokenizer, []
    ids = tok(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    if not ids:
        if start is None:
            raise ValueError("The prompt is empty and this model has no beginning-of-text token: type a prompt.")
        ids = [start]
        notices.append(N_(f"Empty prompt: generation starts from the beginning-of-text token "
                          f"{tok.convert_ids_to_tokens(start)!r}."))
    limit = bundle.context_length - 1
    if len(ids) > limit:
        notices.append(N_(f"The prompt is {len(ids)} tokens, longer than the model's context of "
                          f"{bundle.context_length}; kept its last {limit} tokens."))
        ids = ids[-limit:]
    return ids, notices


def shape(logits: torch.Tensor, context: torch.Tensor, stages) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Apply ``stages`` to raw logits (V,) given the context ids (1, T); return the final scores and the
    probability vector after every stage, raw first."""
    scores = logits.float()[None]  # (1, V)
    probs = [torch.softmax(scores, -1)[0]]
    for _, proc in stages:
        scores = proc(context, scores)
        probs.append(torch.softmax(scores, -1)[0])
    return scores[0], probs


def pick(final_probs: torch.Tensor, mode: str, u: float | None) -> int:
    """Greedy: the most likely token. Sampling: inverse CDF at u, tokens in id order."""
    if mode != "sample":
        return int(final_probs.argmax())
    cdf = torch.cumsum(final_probs.double(), 0)  # (V,)
    idx = int(torch.searchsorted(cdf, torch.tensor([u * float(cdf[-1])], dtype=torch.float64), right=True)[0])
    idx = min(idx, len(cdf) - 1)
    while final_probs[idx] == 0:  # rounding at a boundary: step back to a token that is allowed
        idx -= 1
    return idx


def record(index: int, token_id: int, probs: list[torch.Tensor], stage_names: list[str], tokenizer,
           u: float | None) -> Step:
    """Everything the UI shows about one step, from the per-stage probability vectors (batched: a few tensor
    operations for all stages together, then one conversion to Python)."""
    stacked = torch.stack(probs)  # (S, V): raw first
    values, ids = stacked.topk(min(TOP_N, stacked.shape[1]), dim=-1)  # (S, TOP_N)
    chosen = stacked[:, token_id]  # (S,)
    alive = stacked > 0  # (S, V)
    n_kept = alive.sum(-1)  # (S,)
    kept = torch.ones(len(probs))  # (S,) mass of the previous stage surviving this one
    if len(probs) > 1:
        kept[1:] = (stacked[:-1] * alive[1:]).sum(-1)
    raw = stacked[0]
    logp_raw = torch.log(raw.clamp_min(1e-30))
    entropy = float(-(raw * logp_raw).sum())
    values, ids, chosen, n_kept, kept = values.tolist(), ids.tolist(), chosen.tolist(), n_kept.tolist(), kept.tolist()
    stages = [Stage(name=name, top=list(zip(ids[k], values[k])), chosen_prob=chosen[k], kept_mass=kept[k],
                    n_kept=n_kept[k]) for k, name in enumerate(["raw", *stage_names])]
    return Step(index=index, token_id=token_id, token=token_text(tokenizer, token_id), prob=chosen[-1],
                raw_prob=chosen[0], surprisal=float(-logp_raw[token_id]), entropy=entropy, u=u, stages=stages)


def draw_uniforms(seed: int, n: int) -> list[float]:
    """The run's randomness: one uniform per step, from the run's own CPU generator."""
    return torch.rand(n, generator=make_generator(seed), dtype=torch.float64).tolist()


# --- generation ------------------------------------------------------------------------------------------

@torch.inference_mode()  # lighter than no_grad: no autograd version counters on the cached keys/values
def stream(bundle, *, prompt: str = "", prompt_ids: list | None = None, settings: DecodeSettings, seed: int,
           uniforms: list[float] | None = None, stop_at_eos: bool = True, counter: list | None = None
           ) -> Iterator[tuple[Step, TextRun]]:
    """Generate token by token (greedy or sample), yielding (new step, run so far) after each token.

    Closing the generator (a Stop button, a closed browser) stops the loop before its next forward pass.

    Args:
        bundle (`TextBundle`): from the registry.
        prompt (`str`): the prompt text (ignored when ``prompt_ids`` is given, as when branching).
        settings (`DecodeSettings`): already validated.
        seed (`int`): the run's seed (draws ``uniforms`` when they are not given).
        uniforms (`list[float]`, *optional*): one uniform per step, shared between compared columns.
        stop_at_eos (`bool`): stop at the end-of-text token (benchmarks turn this off).
        counter (`list`, *optional*): each forward pass appends 1 (tests count the work done).
    """
    if settings.mode == "beam":
        raise ValueError("Beam search does not stream token by token; use generate().")
    model, tok = bundle.model, bundle.tokenizer
    device = next(model.parameters()).device
    notices = []
    if prompt_ids is None:
        prompt_ids, notices = prepare_prompt(bundle, prompt)
    prompt_text = tok.decode(prompt_ids, clean_up_tokenization_spaces=False)
    if uniforms is None:
        uniforms = draw_uniforms(seed, settings.max_new_tokens)
    stages = settings.stages(tokenizer=tok, seed=seed)
    names = [n for n, _ in stages]
    eos = tok.eos_token_id
    n_prompt = len(prompt_ids)
    context = torch.empty(1, n_prompt + settings.max_new_tokens, dtype=torch.long)  # (1, T_max) on the CPU
    context[0, :n_prompt] = torch.tensor(prompt_ids)
    run = TextRun(prompt=prompt_text, prompt_ids=list(prompt_ids), steps=[], text=prompt_text, notices=notices,
                  settings=asdict(settings), seed=seed)
    feed = context[:, :n_prompt].to(device)  # (1, T) what the model has not seen yet
    past = None
    run.stopped = "max_new_tokens"
    reader = Reader(tok)
    length = n_prompt
    in_window = n_prompt  # tokens the KV cache covers
    for i in range(settings.max_new_tokens):
        interleave()  # served: another user's work may go between two tokens (studio.serving; else nothing)
        # 1. one forward pass; the cache holds keys/values of everything before `feed`
        out = model(input_ids=feed, past_key_values=past, use_cache=True)
        if counter is not None:
            counter.append(1)
        past = out.past_key_values
        logits = out.logits[0, -1]  # (V,)
        # 2-3. shape the distribution, keeping every stage; processors see the whole context (1, T)
        _, probs = shape(logits.cpu(), context[:, :length], stages)
        # 4. pick the next token
        u = uniforms[i] if settings.mode == "sample" else None
        token_id = pick(probs[-1], settings.mode, u)
        step = record(i, token_id, probs, names, tok, u)
        step.shown = reader.feed(token_id, step.token)
        run.steps.append(step)
        context[0, length] = token_id
        length += 1
        run.text += step.token  # per-token pieces; the final text is decoded whole below
        last = i == settings.max_new_tokens - 1 or (stop_at_eos and token_id == eos)
        if last:
            run.text = prompt_text + tok.decode(context[0, n_prompt:length].tolist(), clean_up_tokenization_spaces=False)
        yield step, run
        if stop_at_eos and token_id == eos:
            run.stopped = "eos"
            return
        feed = context[:, length - 1:length].to(device)  # (1, 1)
        in_window += 1
        if in_window >= bundle.context_length:  # context full: continue from the last half, fresh cache
            keep = bundle.context_length // 2
            feed, past, in_window = context[:, length - keep:length].to(device), None, keep


@engine_action("text", "generate")
def generate(bundle, *, seed: int | None, prompt: str = "", max_new_tokens_limit: int = 1024, **settings) -> TextRun:
    """One complete run (greedy, sample or beam) with per-token insight. ``settings``: DecodeSettings fields."""
    s = DecodeSettings.from_dict(settings).validated(max_new_tokens_limit=max_new_tokens_limit,
                                                     vocab_size=len(bundle.tokenizer))
    seed = resolve_seed(seed)
    if s.mode == "beam":
        return beam_search(bundle, prompt=prompt, settings=s, seed=seed)
    run = None
    for _, run in stream(bundle, prompt=prompt, settings=s, seed=seed):
        pass
    if run is None:  # max_new_tokens >= 1, so this cannot happen; kept for clarity
        raise RuntimeError("no tokens generated")
    return run


@torch.no_grad()
def cut_at_end(new_ids: list, eos_token_id) -> list:
    """The generated ids up to and including the first end-of-text token; what ``generate`` puts after it is
    padding (the pad token may differ from end-of-text)."""
    ends = eos_token_id if isinstance(eos_token_id, (list, tuple, set)) else [eos_token_id]
    for i, token_id in enumerate(new_ids):
        if token_id in ends:
            return new_ids[: i + 1]
    return list(new_ids)


class Interleave:
    """A logits processor that changes nothing: it lets other users' work go between two steps of ``generate``
    (``studio.serving.interleave``), which runs its loop out of the studio's sight."""

    def __call__(self, input_ids, scores):
        interleave()
        return scores


def beam_search(bundle, *, prompt: str, settings: DecodeSettings, seed: int) -> TextRun:
    """Beam search with transformers' ``generate`` (it does not stream), then the per-token view of the best
    beam recomputed in one forward pass."""
    from transformers import GenerationConfig, LogitsProcessorList

    model, tok = bundle.model, bundle.tokenizer
    device = next(model.parameters()).device
    prompt_ids, notices = prepare_prompt(bundle, prompt)
    room = bundle.context_length - len(prompt_ids)
    max_new = min(settings.max_new_tokens, room)
    if max_new < settings.max_new_tokens:
        notices.append(f"Beam search cannot slide the context window: generating {max_new} tokens, what fits in "
                       f"the model's context of {bundle.context_length}.")
    config = GenerationConfig(do_sample=False, num_beams=settings.num_beams, length_penalty=settings.length_penalty,
                              early_stopping=settings.early_stopping, max_new_tokens=max_new,
                              num_return_sequences=settings.num_return_sequences,
                              repetition_penalty=settings.repetition_penalty,
                              no_repeat_ngram_size=settings.no_repeat_ngram_size, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.eos_token_id if tok.pad_token_id is None else tok.pad_token_id,
                              return_dict_in_generate=True, output_scores=True)
    ids = torch.tensor([prompt_ids], device=device)
    stages = settings.stages(tokenizer=tok, seed=seed)
    ours = LogitsProcessorList(proc for name, proc in stages if name == "DRY")  # the penalty generate lacks
    ours.append(Interleave())  # served: other users' work goes between two of generate's steps
    out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config, logits_processor=ours)
    seqs = out.sequences.cpu()  # (R, T + new)
    scores = out.sequences_scores.cpu().tolist() if out.sequences_scores is not None else [0.0] * len(seqs)
    # Beams that end early are padded to the longest: cut each at its first end-of-text token (kept, as the stop).
    beam_ids = [cut_at_end(s[len(prompt_ids):], tok.eos_token_id) for s in seqs.tolist()]
    new = beam_ids[0]
    # Per-token insight for the best beam: raw distributions at every position, in one pass.
    logits = model(torch.tensor([prompt_ids + new], device=device)).logits[0].cpu()  # (T', V)
    names = [n for n, _ in stages]
    steps, reader = [], Reader(tok)
    for i, token_id in enumerate(new):
        context = torch.tensor([prompt_ids + new[:i]])
        _, probs = shape(logits[len(prompt_ids) + i - 1], context, stages)
        steps.append(record(i, token_id, probs, names, tok, None))
        steps[-1].shown = reader.feed(token_id, steps[-1].token)
    prompt_text = tok.decode(prompt_ids, clean_up_tokenization_spaces=False)
    beams = [(tok.decode(ids_, skip_special_tokens=True), float(sc)) for ids_, sc in zip(beam_ids, scores)]
    return TextRun(prompt=prompt_text, prompt_ids=prompt_ids, steps=steps,
                   text=prompt_text + tok.decode(new, clean_up_tokenization_spaces=False), notices=notices,
                   settings=asdict(settings), seed=seed,
                   stopped="eos" if new and new[-1] == tok.eos_token_id else "max_new_tokens", beams=beams,
                   beam_ids=beam_ids)


@engine_action("text", "compare")
def compare(bundle, *, seed: int | None, prompt: str = "", columns: list, max_new_tokens: int = 60,
            max_new_tokens_limit: int = 1024) -> list[TextRun]:
    """The same prompt under two or three settings with shared randomness: at step t every column uses the
    same uniform u_t, so only the shaping of the distribution differs.

    Args:
        columns (`list[dict]`): DecodeSettings fields per column (greedy or sample; max_new_tokens is shared).
    """
    if not isinstance(columns, (list, tuple)) or not 1 <= len(columns) <= 3:
        raise ValueError("Compare takes one to three columns of settings.")
    seed = resolve_seed(seed)
    settings = []
    for c in columns:
        s = DecodeSettings.from_dict({**c, "max_new_tokens": max_new_tokens}).validated(
            max_new_tokens_limit=max_new_tokens_limit, vocab_size=len(bundle.tokenizer))
        if s.mode == "beam":
            raise ValueError("Compare runs greedy or sampling columns; beam search uses no randomness to share.")
        settings.append(s)
    uniforms = draw_uniforms(seed, max_new_tokens)  # the shared randomness
    runs = []
    for s in settings:
        run = None
        for _, run in stream(bundle, prompt=prompt, settings=s, seed=seed, uniforms=uniforms):
            pass
        runs.append(run)
    return runs


@torch.no_grad()
def distribution_at(bundle, *, context_ids: list, settings: DecodeSettings) -> tuple[list[str], list[torch.Tensor]]:
    """(stage names, probability vector after each stage) for the next token after ``context_ids``."""
    model = bundle.model
    device = next(model.parameters()).device
    ids = context_ids[-bundle.context_length:]
    logits = model(torch.tensor([ids], device=device)).logits[0, -1].cpu()
    stages = settings.stages(tokenizer=bundle.tokenizer)
    _, probs = shape(logits, torch.tensor([context_ids]), stages)
    return ["raw", *[n for n, _ in stages]], probs


@engine_action("text", "sample_n")
def sample_n(bundle, *, seed: int | None, context_ids: list, n: int = 100, settings: dict | None = None) -> dict:
    """Draw ``n`` next tokens at one step from the final distribution: the histogram a class can set against
    the predicted probabilities."""
    n = checks.whole_number("n", n, 1, 10000)
    s = DecodeSettings.from_dict(settings or {}).validated(vocab_size=len(bundle.tokenizer))
    if s.mode != "sample":
        raise ValueError("Sampling N times needs mode 'sample' (greedy always picks the same token).")
    names, probs = distribution_at(bundle, context_ids=context_ids, settings=replace(s, xtc_probability=0.0))
    final = probs[-1]
    if s.xtc_probability > 0:  # XTC acts at a draw with its probability: the draws come from the mixture
        _, fired = distribution_at(bundle, context_ids=context_ids, settings=replace(s, xtc_probability=1.0))
        final = s.xtc_probability * fired[-1] + (1 - s.xtc_probability) * final
    draws = torch.multinomial(final, n, replacement=True, generator=make_generator(resolve_seed(seed)))
    counts = torch.bincount(draws, minlength=final.numel())
    order = torch.argsort(final, descending=True)[:TOP_N]
    tok = bundle.tokenizer
    return {"tokens": [token_text(tok, int(i)) for i in order], "token_ids": order.tolist(),
            "predicted": final[order].tolist(), "observed": (counts[order].float() / n).tolist(), "n": n,
            "other_predicted": float(1 - final[order].sum()), "other_observed": float(1 - counts[order].sum() / n)}


@engine_action("text", "branch")
def branch(bundle, *, seed: int | None, context_ids: list, token_id: int, max_new_tokens: int = 60,
           settings: dict | None = None, max_new_tokens_limit: int = 1024) -> TextRun:
    """Continue from ``context_ids`` + ``token_id`` (another candidate picked at some step)."""
    vocab = len(bundle.tokenizer)
    if isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 <= token_id < vocab:
        raise ValueError(f"token_id must be a token of this model (0..{vocab - 1}), got {token_id!r}.")
    s = DecodeSettings.from_dict({**(settings or {}), "max_new_tokens": max_new_tokens}).validated(
        max_new_tokens_limit=max_new_tokens_limit, vocab_size=vocab)
    if s.mode == "beam":
        s = replace(s, mode="greedy")
    ids = list(context_ids)[-(bundle.context_length - 1):] + [token_id]
    run = None
    for _, run in stream(bundle, prompt_ids=ids, settings=s, seed=resolve_seed(seed)):
        pass
    return run
