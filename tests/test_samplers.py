"""The sampler chain: top-nσ, XTC and DRY (written here) and epsilon / eta (transformers') checked against hand
computations, and the order of the stages (standard, temperature last, any list) followed by the run."""

import math

import pytest
import torch

from studio.text import engine, samplers
from studio.text.settings import DecodeSettings, SAMPLING_ORDER
from tests.helpers import sharpened_tiny_text

NO_IDS = torch.zeros(1, 1, dtype=torch.long)


def kept(scores):
    return torch.isfinite(scores[0]).nonzero().flatten().tolist()


def test_top_n_sigma_keeps_logits_within_n_standard_deviations_of_the_top():
    logits = [3.0, 2.0, 1.0, 0.0, -5.0]
    mean = sum(logits) / 5  # 0.2
    sigma = math.sqrt(sum((x - mean) ** 2 for x in logits) / 5)  # 2.786 (the population deviation)
    assert [i for i, x in enumerate(logits) if x >= 3.0 - 1.0 * sigma] == [0, 1, 2]  # the hand computation
    warper = samplers.TopNSigmaLogitsWarper(1.0)
    out = warper(NO_IDS, torch.tensor([logits]))
    assert kept(out) == [0, 1, 2] and out[0, :3].tolist() == logits[:3]
    assert kept(warper(NO_IDS, torch.tensor([logits]) / 0.4)) == [0, 1, 2]  # temperature does not change the set
    # after a filter: σ of the finite logits only (3, 2, 1, 0: mean 1.5, σ 1.118): keeps 3, 2
    assert kept(warper(NO_IDS, torch.tensor([[3.0, 2.0, 1.0, 0.0] + [-math.inf] * 4]))) == [0, 1]  # σ over 8: [0]
    assert kept(samplers.TopNSigmaLogitsWarper(2.0)(NO_IDS, torch.tensor([logits]))) == [0, 1, 2, 3]  # ≥ 3 − 5.57


def xtc(threshold, probability, probs, seed=0):
    warper = samplers.XTCLogitsWarper(threshold, probability, torch.Generator().manual_seed(seed))
    return torch.softmax(warper(NO_IDS, torch.log(torch.tensor([probs]))), -1)[0], warper


def test_xtc_removes_the_top_choices_but_the_least_likely_of_them():
    probs = [0.4, 0.3, 0.2, 0.1]
    out, w = xtc(0.15, 1.0, probs)  # above 0.15: 0.4, 0.3, 0.2; the least likely of them (0.2) stays
    assert w.last_applied and out.tolist() == pytest.approx([0.0, 0.0, 2 / 3, 1 / 3], abs=1e-6)
    out, _ = xtc(0.35, 1.0, probs)  # one token above: nothing to exclude
    assert out.tolist() == pytest.approx(probs, abs=1e-6)
    out, w = xtc(0.15, 0.0, probs)  # never fires
    assert not w.last_applied and out.tolist() == pytest.approx(probs, abs=1e-6)


def test_xtc_never_removes_newline_or_end_of_text_and_counts_only_tokens_still_in_the_running():
    # text-generation-webui's rule: if a newline or EOS token would be removed, the scores are left alone
    probs = [0.4, 0.3, 0.2, 0.1]
    scores = torch.log(torch.tensor([probs]))
    for exempt in ({0}, {1}):  # 0.4 or 0.3 would go: nothing changes
        w = samplers.XTCLogitsWarper(0.15, 1.0, exempt_ids=exempt)
        assert torch.equal(w(NO_IDS, scores), scores)
    w = samplers.XTCLogitsWarper(0.15, 1.0, exempt_ids={2, 3})  # the one kept (0.2) and one below: XTC acts
    assert kept(w(NO_IDS, scores)) == [2, 3]
    # threshold 0 after top-k: every token in the running is "above"; the least likely of them stays, never a
    # token top-k removed (that left a NaN distribution and a crash)
    cut = scores.clone()
    cut[0, 3] = -math.inf
    out = samplers.XTCLogitsWarper(0.0, 1.0)(NO_IDS, cut)
    assert kept(out) == [2] and torch.softmax(out, -1)[0].tolist() == pytest.approx([0, 0, 1, 0])


def test_xtc_exempts_the_tokenizers_newline_and_eos(bundle):
    tok = bundle.tokenizer
    exempt = samplers.xtc_exempt_ids(tok)
    assert tok.decode([tok("\n", add_special_tokens=False)["input_ids"][-1]]) == "\n"
    assert {tok("\n", add_special_tokens=False)["input_ids"][-1], tok.eos_token_id} == exempt
    stage = dict(DecodeSettings(mode="sample", xtc_probability=1.0).stages(tokenizer=tok))["XTC"]
    assert set(stage.exempt) == exempt


@pytest.mark.parametrize("controls", [
    {"top_k": 20, "xtc_probability": 1.0, "xtc_threshold": 0.0},
    {"top_k": 1, "xtc_probability": 1.0, "xtc_threshold": 0.0},
    {"top_p": 1e-6, "min_p": 1.0, "xtc_probability": 1.0, "xtc_threshold": 0.0},
    {"temperature": 0.01, "top_n_sigma": 0.01, "epsilon": 0.5, "eta": 0.5, "xtc_probability": 1.0, "xtc_threshold": 0.5},
    {"typical_p": 1e-6, "top_k": 2, "xtc_probability": 1.0, "xtc_threshold": 0.0, "order": "temperature last"},
])
def test_no_combination_of_controls_leaves_nothing_to_draw(bundle, controls):
    run = engine.generate(bundle, seed=3, prompt="hello world", max_new_tokens=6, mode="sample", **controls)
    assert len(run.steps) >= 1
    for step in run.steps:  # a token drawn from a proper distribution: at least one token left, a finite chance
        last = step.stages[-1]
        assert last.n_kept >= 1 and 0 < step.prob <= 1 and math.isfinite(last.kept_mass)
        assert all(math.isfinite(p) for _, p in last.top)


def test_xtc_fires_with_its_probability_from_its_own_seeded_draws():
    def pattern(seed):
        w = samplers.XTCLogitsWarper(0.15, 0.3, torch.Generator().manual_seed(seed))
        fired = []
        for _ in range(2000):
            w(NO_IDS, torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]])))
            fired.append(w.last_applied)
        return fired

    a = pattern(1)
    assert sum(a) / len(a) == pytest.approx(0.3, abs=0.04)
    assert pattern(1) == a and pattern(2) != a


def test_dry_penalises_the_token_that_would_extend_a_repeat():
    # context 1 2 3 4 1 2 3: the tail "1 2 3" repeats the start (m = 3); the token after it there was 4
    ids = torch.tensor([[1, 2, 3, 4, 1, 2, 3]])
    scores = torch.zeros(1, 6)
    out = samplers.DRYLogitsProcessor(0.8, 1.75, 2)(ids, scores)
    assert out[0].tolist() == pytest.approx([0, 0, 0, 0, -0.8 * 1.75 ** (3 - 2), 0])
    assert samplers.DRYLogitsProcessor(0.8, 1.75, 4)(ids, scores)[0].tolist() == [0.0] * 6  # m = 3 < 4: allowed
    # a sequence breaker (token 2) stops the match at m = 1, under the allowed length
    broken = samplers.DRYLogitsProcessor(0.8, 1.75, 1, breaker_ids={2})
    assert broken.penalties([1, 2, 3, 4, 1, 2, 3]) == {4: pytest.approx(0.8 * 1.75 ** 0)}
    assert samplers.DRYLogitsProcessor(0.8, 1.75, 2, breaker_ids={2}).penalties([1, 2, 3, 4, 1, 2, 3]) == {}
    # the longest match wins for a token: "5 3" repeats once (m = 2) and "1 2 3" (m = 3), both followed by 4
    assert samplers.DRYLogitsProcessor(1.0, 2.0, 2).penalties([5, 3, 4, 1, 2, 3, 4, 0, 1, 2, 3]) == {
        4: pytest.approx(2.0 ** (3 - 2))}
    # penalty_last_n: only the last 4 tokens are looked at (2 3 · no earlier 3)
    assert samplers.DRYLogitsProcessor(0.8, 1.75, 2, penalty_last_n=3).penalties([1, 2, 3, 4, 1, 2, 3]) == {}


@pytest.fixture(scope="module")
def bundle(tiny_text_dir):
    return sharpened_tiny_text(tiny_text_dir)  # peaked enough for the filters to cut something


def raw_probs(bundle, ids):
    with torch.no_grad():
        return torch.softmax(bundle.model(torch.tensor([ids])).logits[0, -1].float(), -1)


def test_epsilon_and_eta_keep_what_the_paper_says(bundle):
    """After temperature 0.1 (the tiny random model is nearly flat), each filter keeps what its rule says."""
    run = engine.generate(bundle, seed=0, prompt="hello world", max_new_tokens=6, temperature=0.1, epsilon=0.01,
                          eta=0.05)
    cut = []
    for step in run.steps:
        assert [g.name for g in step.stages] == ["raw", "temperature", "epsilon", "eta"]
        context = run.prompt_ids + [s.token_id for s in run.steps[:step.index]]
        with torch.no_grad():
            p = torch.softmax(bundle.model(torch.tensor([context])).logits[0, -1].float() / 0.1, -1)
        eps_kept = p >= 0.01  # epsilon: drop p < ε
        assert step.stages[2].n_kept == int(eps_kept.sum())
        q = torch.where(eps_kept, p, torch.zeros_like(p))
        q = q / q.sum()
        entropy = float(-(q[q > 0] * q[q > 0].log()).sum())
        eta = min(0.05, math.sqrt(0.05) * math.exp(-entropy))  # eta: drop p < min(η, √η·e^(−H))
        assert step.stages[3].n_kept == int((q >= eta).sum())
        cut.append((step.stages[1].n_kept - step.stages[2].n_kept, step.stages[2].n_kept - step.stages[3].n_kept))
    assert any(a > 0 for a, _ in cut) and any(b > 0 for _, b in cut), f"neither filter cut anything here: {cut}"


def test_dry_in_the_chain_changes_a_greedy_loop(bundle):
    plain = engine.generate(bundle, seed=0, prompt="hello world", mode="greedy", max_new_tokens=40)
    dry = engine.generate(bundle, seed=0, prompt="hello world", mode="greedy", max_new_tokens=40,
                          dry_multiplier=2.0, dry_allowed_length=2)
    assert [g.name for g in dry.steps[0].stages] == ["raw", "DRY"]
    ids = dry.prompt_ids + [s.token_id for s in dry.steps]
    proc = samplers.DRYLogitsProcessor(2.0, 1.75, 2, samplers.breaker_ids(bundle.tokenizer))
    penalised = 0
    for step in dry.steps:  # every step: the DRY panel is the raw logits minus the hand-computed penalties
        context = ids[:len(dry.prompt_ids) + step.index]
        logits = torch.log(raw_probs(bundle, context))
        for token, amount in proc.penalties(context).items():
            logits[token] -= amount
            penalised += 1
        expect = torch.softmax(logits, -1)
        assert step.stages[1].chosen_prob == pytest.approx(float(expect[step.token_id]), abs=1e-5)
        assert step.token_id == int(expect.argmax())
    assert penalised > 0 and [s.token_id for s in plain.steps] != [s.token_id for s in dry.steps]


def test_the_order_is_followed_and_temperature_last_differs(bundle):
    common = dict(seed=3, prompt="hello world", max_new_tokens=5, temperature=0.15, top_p=0.5)
    standard = engine.generate(bundle, **common)
    last = engine.generate(bundle, **common, order="temperature last")
    assert [g.name for g in standard.steps[0].stages] == ["raw", "temperature", "top-p"]
    assert [g.name for g in last.steps[0].stages] == ["raw", "top-p", "temperature"]
    assert last.settings["order"] == "temperature last"
    # temperature last: top-p cuts the model's own distribution (hand computation: the smallest top set ≥ 0.5)
    p = raw_probs(bundle, last.prompt_ids)
    sorted_p = p.sort(descending=True).values
    need = int((sorted_p.cumsum(0) < 0.5).sum()) + 1
    assert last.steps[0].stages[1].n_kept == need
    assert standard.steps[0].stages[2].n_kept < need  # sharpened first, the nucleus holds fewer tokens
    custom = ", ".join(reversed(SAMPLING_ORDER))
    run = engine.generate(bundle, **common, order=custom)
    assert [g.name for g in run.steps[0].stages] == ["raw", "top-p", "temperature"] and run.settings["order"] == custom


def test_xtc_in_the_chain_is_seeded_and_shared_by_compared_columns(bundle):
    # (a threshold a few tokens reach: at 0.02 newline or end-of-text is always among them, and XTC stays off)
    col = {"mode": "sample", "xtc_probability": 0.5, "xtc_threshold": 0.034}
    a, b = engine.compare(bundle, seed=5, prompt="hello world", columns=[col, col], max_new_tokens=20)
    assert a.text == b.text
    fired = [s.stages[1].n_kept < s.stages[0].n_kept for s in a.steps]
    assert any(fired) and not all(fired)
    again = engine.generate(bundle, seed=5, prompt="hello world", max_new_tokens=20, **col)
    assert again.text == a.text


@pytest.mark.parametrize("bad, msg", [
    ({"order": "temperature, top_k"}, r"order must be 'standard' or 'temperature last', or every sampling stage once"),
    ({"order": "warmth last"}, r"got 'warmth last'"),
    ({"top_n_sigma": -1}, r"top_n_sigma must be a number in \[0, 10\], got -1"),
    ({"xtc_probability": 1.5}, r"xtc_probability must be a number in \[0, 1\]"),
    ({"dry_allowed_length": 2.5}, r"dry_allowed_length must be a whole number"),
    ({"epsilon": "a"}, r"epsilon must be a number"),
])
def test_bad_sampler_settings_name_the_control(bad, msg):
    with pytest.raises(ValueError, match=msg):
        DecodeSettings(**bad).validated()


def test_sample_n_with_xtc_draws_from_the_mixture(bundle):
    context = bundle.tokenizer("hello world")["input_ids"]
    settings = {"mode": "sample", "xtc_probability": 0.5, "xtc_threshold": 0.034}
    out = engine.sample_n(bundle, seed=0, context_ids=context, n=5000, settings=settings)
    p = raw_probs(bundle, context)
    above = (p >= 0.034).nonzero().flatten()
    assert len(above) >= 2, "pick a threshold two tokens reach"
    fired = p.clone()
    removed = above[above != above[p[above].argmin()]]
    assert not set(removed.tolist()) & samplers.xtc_exempt_ids(bundle.tokenizer), "a threshold XTC acts at"
    fired[removed] = 0
    mixture = 0.5 * fired / fired.sum() + 0.5 * p
    for i, pred, obs in zip(out["token_ids"], out["predicted"], out["observed"]):
        assert pred == pytest.approx(float(mixture[i]), abs=1e-5) and obs == pytest.approx(pred, abs=0.03)


def test_the_chain_forwards_dry_base_and_applies_top_n_sigma_in_its_place():
    """DecodeSettings -> the logits processors the engine runs. DRY with base b: a continuation of a repeat m tokens
    long loses multiplier × b^(m − allowed) (text-generation-webui's definition; here m = 3, allowed 2: 2 × 3¹ = 6).
    Top-nσ between temperature and top-k: at T = 0.5 the logits double, σ doubles, the kept set is the hand
    computation of the test above ({0, 1, 2}), and top-k = 2 then keeps the best two of those."""
    ids = torch.tensor([[5, 6, 7, 8, 5, 6, 7]])  # "5 6 7" again: 8 would make the repeat 4 long (m = 3)
    stages = dict(DecodeSettings(mode="greedy", dry_multiplier=2.0, dry_base=3.0, dry_allowed_length=2).stages())
    dry = stages["DRY"]
    out = dry(ids, torch.zeros(1, 10))
    assert out[0, 8].item() == pytest.approx(-2.0 * 3.0 ** (3 - 2))
    assert torch.count_nonzero(out).item() == 1  # nothing else repeats
    default = dict(DecodeSettings(mode="greedy", dry_multiplier=2.0).stages())["DRY"]
    assert default(ids, torch.zeros(1, 10))[0, 8].item() == pytest.approx(-2.0 * 1.75)

    settings = DecodeSettings(mode="sample", temperature=0.5, top_n_sigma=1.0, top_k=2)
    chain = settings.stages()
    assert [name for name, _ in chain] == ["temperature", "top-nσ", "top-k"]
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0, -5.0]])
    after = {}
    for name, proc in chain:
        scores = proc(NO_IDS, scores)
        after[name] = kept(scores)
    assert after == {"temperature": [0, 1, 2, 3, 4], "top-nσ": [0, 1, 2], "top-k": [0, 1]}
    assert scores[0, :2].tolist() == [6.0, 4.0]  # the logits / T, untouched by the filters
