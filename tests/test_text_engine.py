"""The decoding engine on a tiny random GPT-2 saved and re-loaded in transformers format."""

import math

import pytest
import torch

from studio.registry import ModelRegistry, ModelSpec
from studio.text import engine
from studio.text.engine import DecodeSettings, PRESETS
from tests.helpers import sharpened_tiny_text


@pytest.fixture(scope="module")
def bundle(tiny_text_dir):
    return sharpened_tiny_text(tiny_text_dir)  # peaked enough for the filters to cut something


def gen(bundle, seed=0, prompt="the ", **kw):
    return engine.generate(bundle, seed=seed, prompt=prompt, **kw)


def test_greedy_equals_transformers_generate(bundle):
    run = gen(bundle, mode="greedy", max_new_tokens=20)
    ids = torch.tensor([run.prompt_ids])
    ref = bundle.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=20,
                                pad_token_id=bundle.tokenizer.eos_token_id)
    got = [s.token_id for s in run.steps]
    ref = ref[0, len(run.prompt_ids):].tolist()
    eos = bundle.tokenizer.eos_token_id
    if eos in ref:
        ref = ref[:ref.index(eos) + 1]  # generate pads after the end
    assert got == ref and len(got) >= 1
    # and each greedy token is the argmax of the raw distribution
    assert all(s.stages[0].top[0][0] == s.token_id for s in run.steps)


@pytest.mark.parametrize("penalties", [{"repetition_penalty": 1.5}, {"no_repeat_ngram_size": 2},
                                       {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3}])
def test_greedy_with_penalties_matches_generate(bundle, penalties):
    """Each processor changes the greedy path on this prompt (checked first, so a studio that skipped the
    processors fails), and the whole sequence equals transformers' generate with the same processor: all 24
    tokens, or up to and including the end-of-text token where the run stops there."""
    n, prompt, eos = 24, "hello world", bundle.tokenizer.eos_token_id
    plain = [s.token_id for s in gen(bundle, prompt=prompt, mode="greedy", max_new_tokens=n).steps]
    run = gen(bundle, prompt=prompt, mode="greedy", max_new_tokens=n, **penalties)
    got = [s.token_id for s in run.steps]
    assert len(plain) == n and got != plain, "this prompt does not show the penalty; pick another"
    ids = torch.tensor([run.prompt_ids])
    ref = bundle.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n,
                                pad_token_id=eos, **penalties)[0, len(run.prompt_ids):].tolist()
    if eos in ref:
        ref = ref[:ref.index(eos) + 1]  # generate pads after the end
    assert got == ref and len(got) >= 10
    assert run.stopped == ("eos" if len(got) < n else "max_new_tokens")


def test_same_seed_same_text_other_seed_other_text(bundle):
    a = gen(bundle, seed=7, max_new_tokens=30)
    b = gen(bundle, seed=7, max_new_tokens=30)
    c = gen(bundle, seed=8, max_new_tokens=30)
    assert a.text == b.text and [s.u for s in a.steps] == [s.u for s in b.steps]
    assert a.text != c.text


def test_shared_randomness_identical_settings_identical_columns(bundle):
    col = {"mode": "sample", "temperature": 0.9, "top_p": 0.9}
    runs = engine.compare(bundle, seed=3, prompt="to be", columns=[col, col, {"mode": "sample", "temperature": 1.5}],
                          max_new_tokens=25)
    assert runs[0].text == runs[1].text
    assert [s.u for s in runs[0].steps] == [s.u for s in runs[2].steps[:len(runs[0].steps)]]  # the same draws
    single = gen(bundle, seed=3, prompt="to be", max_new_tokens=25, temperature=0.9, top_p=0.9)
    assert single.text == runs[0].text  # a compare column is exactly the single run with that seed


def test_every_stage_is_a_distribution_and_filters_keep_what_they_should(bundle):
    s = DecodeSettings(mode="sample", temperature=0.7, top_k=8, top_p=0.6, min_p=0.05, repetition_penalty=1.3)
    context = bundle.tokenizer("hello world")["input_ids"]
    names, probs = engine.distribution_at(bundle, context_ids=context, settings=s)
    assert names == ["raw", "repetition penalty", "temperature", "top-k", "top-p", "min-p"]
    for p in probs:
        assert p.sum().item() == pytest.approx(1.0, abs=1e-5) and (p >= 0).all()
    raw, rep, temp, topk, topp, minp = probs
    # repetition penalty lowers tokens in the context (positive logits divided, negative multiplied)
    assert all(rep[t] <= raw[t] * (1 + 1e-5) or raw[t] < 1e-3 for t in set(context))
    # temperature 0.7 keeps the order and sharpens
    assert torch.equal(temp.argsort(), rep.argsort()) and temp.max() > rep.max()
    # top-k keeps exactly the 8 most likely
    assert int((topk > 0).sum()) == 8 and set(torch.nonzero(topk).flatten().tolist()) == set(temp.topk(8).indices.tolist())
    # top-p keeps the smallest prefix (by probability) whose mass reaches 0.6
    sorted_p, order = topk.sort(descending=True)
    need = int((sorted_p.cumsum(0) < 0.6).sum()) + 1
    assert set(torch.nonzero(topp).flatten().tolist()) == set(order[:need].tolist())
    # min-p keeps the tokens with p >= 0.05 * max p
    expect = set(torch.nonzero(topp >= 0.05 * topp.max()).flatten().tolist())
    assert set(torch.nonzero(minp).flatten().tolist()) == expect


def test_step_records_and_sequence_figures(bundle):
    run = gen(bundle, seed=1, max_new_tokens=12, top_k=5, temperature=1.3)
    assert 1 <= len(run.steps) <= 12
    for s in run.steps:
        assert [g.name for g in s.stages] == ["raw", "temperature", "top-k"]
        assert s.stages[-1].n_kept == 5 and 0 < s.stages[-1].kept_mass <= 1
        assert s.stages[-1].chosen_prob == pytest.approx(s.prob)
        assert s.surprisal == pytest.approx(-math.log(s.raw_prob), rel=1e-4)
        assert 0 <= s.entropy <= math.log(len(bundle.tokenizer)) + 1e-4
        assert sum(p for _, p in s.stages[0].top) <= 1 + 1e-5
    assert run.logprob == pytest.approx(sum(math.log(s.raw_prob) for s in run.steps), rel=1e-4)
    assert run.perplexity == pytest.approx(math.exp(-run.logprob / len(run.steps)), rel=1e-6)
    assert engine.TextRun.from_dict(run.to_dict()).text == run.text  # survives JSON / gr.State


def test_inverse_cdf_sampling_follows_the_distribution():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for u in torch.rand(20000, generator=g, dtype=torch.float64).tolist():
        counts[engine.pick(probs, "sample", u)] += 1
    assert counts[1] == 0
    assert torch.allclose(counts / 20000, probs, atol=0.01)
    assert engine.pick(probs, "greedy", None) == 2


def test_sample_n_histogram_matches_prediction(bundle):
    context = bundle.tokenizer("the quick")["input_ids"]
    out = engine.sample_n(bundle, seed=0, context_ids=context, n=5000, settings={"mode": "sample", "top_k": 5})
    assert len(out["tokens"]) == 12 and sum(out["predicted"]) == pytest.approx(1.0, abs=1e-5)
    for pred, obs in zip(out["predicted"], out["observed"]):
        assert obs == pytest.approx(pred, abs=0.03)
    again = engine.sample_n(bundle, seed=0, context_ids=context, n=5000, settings={"mode": "sample", "top_k": 5})
    assert again == out


def test_closing_the_stream_stops_the_model(bundle):
    calls = []
    s = DecodeSettings(max_new_tokens=50).validated()
    it = engine.stream(bundle, prompt="to be", settings=s, seed=0, counter=calls, stop_at_eos=False)
    for _ in range(3):
        next(it)
    it.close()  # what Gradio does on Stop or a closed browser tab
    assert len(calls) == 3


def test_context_overflow_slides_the_window(bundle):
    s = DecodeSettings(max_new_tokens=100).validated()  # context is 64 tokens
    run = None
    for _, run in engine.stream(bundle, prompt="to be or not", settings=s, seed=0, stop_at_eos=False):
        pass
    assert len(run.steps) == 100


def test_empty_and_long_prompts_are_handled_and_announced(bundle):
    run = gen(bundle, prompt="", max_new_tokens=5)
    assert run.prompt_ids == [bundle.tokenizer.eos_token_id]
    assert any("Empty prompt" in n for n in run.notices)
    run = gen(bundle, prompt="to be or not to be " * 10, max_new_tokens=5)  # 190 chars > 64 context
    assert len(run.prompt_ids) == 63 and any("kept its last 63 tokens" in n for n in run.notices)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_beam_search_views_beams_scores_and_settings(bundle, monkeypatch, alpha):
    """What the studio adds on top of generate, checked against the model itself: every step's candidates are the
    model's distribution at that position (a forward pass per step here), each beam's score is its
    log-probability over length^alpha, the best beam is the one shown, and the settings reach generate."""
    asked = {}
    real_generate = bundle.model.generate

    def spy(*args, **kwargs):
        asked.update(vars(kwargs["generation_config"]))
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(bundle.model, "generate", spy)
    n = 8
    run = gen(bundle, prompt="hello world", mode="beam", num_beams=3, num_return_sequences=3, max_new_tokens=n,
              length_penalty=alpha, early_stopping=False)
    assert (asked["num_beams"], asked["num_return_sequences"], asked["length_penalty"]) == (3, 3, alpha)
    assert asked["early_stopping"] is False and asked["do_sample"] is False
    P, ids = run.prompt_ids, [s.token_id for s in run.steps]
    assert ids == run.beam_ids[0] and len(run.beams) == len(run.beam_ids) == 3
    for i, step in enumerate(run.steps):  # the per-token view: the raw distribution at this position
        with torch.no_grad():
            probs = torch.softmax(bundle.model(torch.tensor([P + ids[:i]])).logits[0, -1].float(), -1)
        top = step.stages[0].top
        assert [t for t, _ in top] == torch.topk(probs, len(top)).indices.tolist()
        assert [p for _, p in top] == pytest.approx(torch.topk(probs, len(top)).values.tolist(), abs=1e-5)
    scores = [score for _, score in run.beams]
    assert scores == sorted(scores, reverse=True)
    for (text, score), beam in zip(run.beams, run.beam_ids):
        with torch.no_grad():
            logp = torch.log_softmax(bundle.model(torch.tensor([P + beam])).logits[0].float(), -1)
        total = sum(float(logp[len(P) + i - 1, t]) for i, t in enumerate(beam))
        assert score * len(beam) ** alpha == pytest.approx(total, abs=1e-4)
        assert text == bundle.tokenizer.decode(beam, skip_special_tokens=True)
    assert run.stopped == ("eos" if ids[-1] == bundle.tokenizer.eos_token_id else "max_new_tokens")
    assert run.logprob == pytest.approx(sum(-s.surprisal for s in run.steps))


def test_branch_continues_from_the_chosen_candidate(bundle):
    run = gen(bundle, seed=2, max_new_tokens=10)
    alt = run.steps[3].stages[0].top[1][0]  # the second most likely token at step 3
    context = run.prompt_ids + [s.token_id for s in run.steps[:3]]
    b = engine.branch(bundle, seed=2, context_ids=context, token_id=alt, max_new_tokens=5, settings=run.settings)
    assert b.prompt_ids == context + [alt] and 1 <= len(b.steps) <= 5


@pytest.mark.parametrize("kw, msg", [
    ({"mode": "nucleus"}, "mode must be one of greedy, sample, beam"),
    ({"temperature": 0}, r"temperature must be a number in \(0, 5\], got 0\."),
    ({"temperature": float("nan")}, r"temperature must be a number in \(0, 5\], got nan\."),
    ({"top_p": 1.5}, r"top_p must be a number in \(0, 1\], got 1\.5\."),
    ({"top_k": -1}, r"top_k must be a whole number in \[0, \d+\], got -1\."),
    ({"top_k": 2.5}, r"top_k must be a whole number in \[0, \d+\], got 2\.5\."),
    ({"max_new_tokens": 0}, r"max_new_tokens must be a whole number in \[1, 1024\], got 0\."),
    ({"max_new_tokens": "ten"}, r"max_new_tokens must be a whole number in \[1, 1024\], got 'ten'\."),
    ({"mode": "beam", "num_beams": 2, "num_return_sequences": 3}, "cannot exceed num_beams"),
    ({"beam_width": 3}, "Unknown decoding setting"),
])
def test_bad_settings_are_refused_with_the_reason(bundle, kw, msg):
    with pytest.raises(ValueError, match=msg):
        gen(bundle, **kw)


def test_hosted_limit_on_new_tokens(bundle):
    with pytest.raises(ValueError, match=r"max_new_tokens must be a whole number in \[1, 50\]"):
        gen(bundle, max_new_tokens=80, max_new_tokens_limit=50)


def test_presets_are_valid_and_distinct():
    assert set(PRESETS) == {"Neutral", "Greedy", "Beam", "Balanced", "Creative"}
    for p in PRESETS.values():
        p.validated()
    assert PRESETS["Neutral"].stages() == []
    assert PRESETS["Greedy"].inactive_controls()["temperature"].startswith("only used when sampling")


def test_beam_search_cuts_every_beam_at_its_end_token_when_pad_differs(tiny_text_dir, monkeypatch):
    """generate pads beams that end early; with a pad token other than end-of-text the studio showed the pad as
    a generated token and said max_new_tokens instead of eos."""
    from types import SimpleNamespace

    reg = ModelRegistry([ModelSpec(key="p", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm")], device="cpu")
    b = reg.get("p")
    tok = b.tokenizer
    monkeypatch.setattr(tok, "pad_token", "z")
    eos, pad = tok.eos_token_id, tok.pad_token_id
    assert pad != eos
    a_, h_, o_ = tok.convert_tokens_to_ids(["a", "h", "o"])
    prompt_ids = tok("the ")["input_ids"]

    def fake_generate(ids, **kw):
        assert kw["generation_config"].pad_token_id == pad and kw["generation_config"].num_return_sequences == 2
        rows = [prompt_ids + [h_, a_, eos, pad, pad], prompt_ids + [o_, eos, pad, pad, pad]]
        return SimpleNamespace(sequences=torch.tensor(rows), sequences_scores=torch.tensor([-0.5, -0.9]))

    monkeypatch.setattr(b.model, "generate", fake_generate)
    run = gen(b, mode="beam", num_beams=3, num_return_sequences=2, max_new_tokens=5)
    assert [s.token_id for s in run.steps] == [h_, a_, eos]
    assert run.stopped == "eos"
    assert "z" not in run.text[len(run.prompt):] and run.text.endswith("ha<|endoftext|>")
    assert [text for text, _ in run.beams] == ["ha", "o"]
    assert [score for _, score in run.beams] == pytest.approx([-0.5, -0.9])
    assert engine.cut_at_end([1, 2, 3], 9) == [1, 2, 3] and engine.cut_at_end([1, 9, 9], [7, 9]) == [1, 9]


def test_tokenize_shows_each_piece_and_joins_a_character_spread_over_byte_tokens():
    """On the built-in byte-level BPE: the pieces' ids are the tokenizer's, their texts join to the input, and a
    Chinese character or an emoji (2-4 byte tokens) is given whole on the token that completes it."""
    from studio.catalog import builtin_specs
    from studio.config import REPO_ROOT

    reg = ModelRegistry(builtin_specs(REPO_ROOT / "checkpoints"), device="cpu")
    bundle = reg.get("shakespeare-gpt")
    text = "ROMEO: 你好 🙂 café\nthe end"
    out = engine.tokenize(bundle, text)
    ids = bundle.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert [p["id"] for p in out["pieces"]] == ids and out["count"] == len(ids) and out["chars"] == len(text)
    assert [p["token"] for p in out["pieces"]] == bundle.tokenizer.convert_ids_to_tokens(ids)
    assert "".join(p["text"] for p in out["pieces"]) == text
    whole = [(p["text"], k) for k, p in enumerate(out["pieces"]) if p["text"] in ("你", "好", "🙂", "é")]
    assert [t for t, _ in whole] == ["你", "好", "🙂", "é"]
    for char, k in whole:  # the tokens before it are its bytes, marked, with no text of their own
        n_bytes = len(char.encode("utf-8"))
        before = out["pieces"][k - n_bytes + 1:k]
        assert before and all(p["part_of_next"] and p["text"] == "" for p in before), char
    assert out["pieces"][-1]["text"] == "nd" and not any(p["part_of_next"] for p in out["pieces"][-3:])
    for bad, msg in [("", "Type a text to tokenize"), ("x" * 21, "The text is 21 characters; at most 20 are"),
                     (5, "The text must be text, got int")]:
        with pytest.raises(ValueError, match=msg):
            engine.tokenize(bundle, bad, max_chars=20)
