"""The Text tab's endpoints through gradio_client, on a tiny model."""

import time

import pytest

from studio.config import Settings
from studio.registry import ModelRegistry, ModelSpec
from tests.helpers import launched


@pytest.fixture(scope="module")
def app(tiny_text_dir, tiny_unet_dir):
    reg = ModelRegistry([ModelSpec(key="tiny-text", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm", builtin=True),
                         ModelSpec(key="tiny-unet", family="diffusion", source=str(tiny_unet_dir),
                                   loader="diffusers-unet", builtin=True)], device="cpu", allow_hub=False)
    with launched(reg, Settings(max_new_tokens=150, allow_hub=False)) as client:
        yield reg, client


def generated(tokens):
    return [t for t in tokens[1:]]  # item 0 is the prompt


def test_text_generate_with_no_arguments(app):
    _, client = app
    tokens, summary, step, *_, recipe, code, _view = client.predict(api_name="/text_generate")
    gen = generated(tokens)
    assert 1 <= len(gen) <= 120
    assert all(0 <= t["class_or_confidence"] <= 1 for t in gen)
    assert "sequence log-probability" in summary and "seed `1234`" in summary
    assert '"family": "text"' in recipe and "generate(" in code


def test_same_seed_same_output_through_the_api(app):
    _, client = app
    a = client.predict("tiny-text", "to be", "sample", 1.0, 0, 1.0, 0.0, 1.0, 1.0, 0, 4, 1.0, True, 1, 30, 99,
                       api_name="/text_generate")
    b = client.predict("tiny-text", "to be", "sample", 1.0, 0, 1.0, 0.0, 1.0, 1.0, 0, 4, 1.0, True, 1, 30, 99,
                       api_name="/text_generate")
    assert a[0] == b[0] and a[1] == b[1]


def test_beam_mode_through_the_api(app):
    _, client = app
    tokens, summary, *_ = client.predict("tiny-text", "to be", "beam", 1.0, 0, 1.0, 0.0, 1.0, 1.0, 0, 3, 1.0, True,
                                         2, 10, 0, api_name="/text_generate")
    assert "**Beams**" in summary and "1. `" in summary and "2. `" in summary


def test_text_compare_with_no_arguments(app):
    _, client = app
    a, b, c, stats, *views = client.predict(api_name="/text_compare")
    assert len(views) == 3 and all("Colour = the probability p" in v and "data-step" not in v for v in views)
    for tokens, view in zip((a, b, c), views):  # each column's readable view holds its tokens, in order
        text = "".join(t["token"] for t in tokens[1:])
        assert view.count('class="t"') == len(tokens) - 1 and len(text) > 0
    assert "**A** (greedy)" in stats and "**B** (sample, T = 0.7)" in stats and "**C** (sample, T = 1.5)" in stats


def test_text_compare_quiz_shuffles_the_columns_and_reveal_names_them(app):
    _, client = app
    args = ("tiny-text", "to be", "Greedy", 1.0, "Neutral", 0.7, "Neutral", 1.5, 12, 7)
    plain = client.predict(*args, False, api_name="/text_compare")
    quiz = client.predict(*args, True, api_name="/text_compare")
    question = quiz[3]
    assert "Which column is which setting?" in question and "sample, T = 1.5" in question
    assert "perplexity" not in question and "**A**" not in question  # nothing that gives the answer away
    # the same three texts, shuffled with the seed: each quiz column is one of the plain ones
    def texts(col):
        return "".join(t["token"] for t in col)

    plain_texts = [texts(c) for c in plain[:3]]
    shown = [plain_texts.index(texts(c)) for c in quiz[:3]]
    assert sorted(shown) == [0, 1, 2]
    assert client.predict(*args, True, api_name="/text_compare")[:3] == quiz[:3]  # same seed, same order
    answer = client.predict(api_name="/text_reveal")
    settings = ["greedy", "sample, T = 0.7", "sample, T = 1.5"]
    for slot, j in zip("ABC", shown):
        assert f"**Column {slot}**: {settings[j]}" in answer


@pytest.mark.parametrize("args, msg", [
    (("tiny-text", "hi", "nucleus"), r"nucleus.*greedy.*sample.*beam"),
    # Gradio's sliders check their own bounds before the handler runs, with a message naming the limit.
    (("tiny-text", "hi", "sample", 0.0), r"0.0 is less than minimum value 0.05"),
    (("tiny-text", "hi", "sample", 1.0, 0, 1.0, 0.0, 1.0, 1.0, 0, 4, 1.0, True, 1, 500), r"500 is greater than maximum value 150"),
    (("tiny-text", "hi", "sample", 1.0, 0, 1.0, 0.0, 1.0, 1.0, 0, 4, 1.0, True, 1, 20, -7), r"Seed must be between 0 and"),
    (("nope", "hi"), "Unknown model 'nope'"),
    (("tiny-unet", "hi"), "is a diffusion model; this needs a causal language model"),
])
def test_bad_input_gives_a_clear_message_and_the_tab_keeps_working(app, args, msg):
    _, client = app
    with pytest.raises(Exception, match=msg):
        client.predict(*args, api_name="/text_generate")
    tokens, *_ = client.predict(api_name="/text_generate")
    assert len(tokens) > 1


def test_empty_prompt_is_announced(app):
    _, client = app
    _, summary, *_ = client.predict("tiny-text", "", api_name="/text_generate")
    assert "Empty prompt: generation starts from the beginning-of-text token" in summary


def test_stop_cancels_the_server_side_loop(app):
    reg, client = app
    model = reg.get("tiny-text").model
    calls = []

    def slow(*_):
        calls.append(1)
        time.sleep(0.05)  # 150 tokens would take 7.5 s

    handle = model.register_forward_hook(slow)
    try:
        job = client.submit("tiny-text", "to be", "sample", 1.0, 0, 1.0, 0.0, 1.0, 1.0, 0, 4, 1.0, True, 1, 150, 5,
                            api_name="/text_generate")
        deadline = time.time() + 20
        while len(calls) < 5 and time.time() < deadline:
            time.sleep(0.02)
        job.cancel()
        time.sleep(0.5)
        after_cancel = len(calls)
        time.sleep(1.0)
        assert len(calls) <= after_cancel + 1  # at most the pass in flight finishes
        assert len(calls) < 100, "the loop ran on after Stop"
    finally:
        handle.remove()
    tokens, *_ = client.predict(api_name="/text_generate")  # the tab still works
    assert len(tokens) > 1


def test_every_text_event_is_named_and_heavy_ones_share_the_gpu_queue(app):
    _, client = app
    names = set(client.view_api(return_format="dict")["named_endpoints"])
    assert {"/text_generate", "/text_compare", "/text_sample", "/text_branch"} <= names


def test_hub_loading_refused_clearly_when_turned_off(app):
    _, client = app
    with pytest.raises(Exception, match=r"Hugging Face Hub is turned off on this server \(STUDIO_ALLOW_HUB=0\)"):
        client.predict("gpt2", api_name="/text_add_model")


def test_recipe_export_then_apply_restores_every_control(app):
    _, client = app
    args = ("tiny-text", "to be", "sample", 0.65, 7, 0.9, 0.05, 1.0, 1.2, 2, 4, 1.0, True, 1, 25, 4321,
            0.001, 0.002, 1.5, 0.3, 0.12, 0.8, 1.5, 3, "temperature last")  # the later samplers after the seed
    *_, recipe, code, _view = client.predict(*args, api_name="/text_generate")
    assert '"order": "temperature last"' in recipe and '"dry_multiplier": 0.8' in recipe
    restored = client.predict(recipe, api_name="/text_apply_recipe")
    assert list(restored) == list(args)
    with pytest.raises(Exception, match="The recipe box is empty"):
        client.predict("", api_name="/text_apply_recipe")
    with pytest.raises(Exception, match="not valid JSON"):
        client.predict("{not json", api_name="/text_apply_recipe")
    with pytest.raises(Exception, match="This is a gan/grid recipe"):
        client.predict(recipe.replace('"family": "text"', '"family": "gan"').replace('"action": "generate"',
                                                                                     '"action": "grid"'),
                       api_name="/text_apply_recipe")


@pytest.mark.parametrize("position, bad, label", [
    (3, "hot", "Temperature"),  # a string for a slider
    (4, [3], "Top-k"),  # a list
    (15, {"seed": 1}, "Seed"),  # a dict for a number
])
def test_wrong_types_name_the_control(app, position, bad, label):
    _, client = app
    args = ["tiny-text", "to be", "sample", 1.0, 0, 1.0, 0.0, 1.0, 1.0, 0, 4, 1.0, True, 1, 10, 0]
    args[position] = bad
    with pytest.raises(Exception, match=rf"{label}.*is not a value this .* accepts"):
        client.predict(*args, api_name="/text_generate")
    tokens, *_ = client.predict(api_name="/text_generate")  # and the next request works
    assert len(tokens) > 1


def test_the_text_handlers_are_functions_a_test_calls_with_keyword_arguments(tiny_text_dir):
    """No server: the handlers take the tab's context and keyword arguments; the context's token limit holds."""
    import inspect

    from studio.text import engine, tab
    from studio.ui.wiring import wired

    reg = ModelRegistry([ModelSpec(key="tiny-text", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm", builtin=True)], device="cpu")
    ctx = tab.TextContext.of(reg, Settings(max_new_tokens=6))
    assert (ctx.default_model, ctx.max_new_tokens) == ("tiny-text", 6)
    *_, final = tab.text_generate(ctx, model="tiny-text", prompt="ab", mode="greedy", max_new_tokens=5, seed=0)
    run = final[2]
    direct = engine.generate(reg.get("tiny-text"), seed=0, prompt="ab", mode="greedy", max_new_tokens=5,
                             repetition_penalty=1.1)  # the handler's default
    assert [s["token_id"] for s in run["steps"]] == [s.token_id for s in direct.steps] and len(run["steps"]) == 5
    with pytest.raises(ValueError, match=r"max_new_tokens must be a whole number in \[1, 6\], got 7"):
        list(tab.text_generate(ctx, model="tiny-text", max_new_tokens=7))
    step = inspect.signature(wired(tab.text_step, ctx)).parameters
    assert list(step) == ["model", "run", "step"] and step["model"].default is inspect.Parameter.empty
    gen = inspect.signature(wired(tab.text_generate, ctx)).parameters
    assert gen["model"].default == "tiny-text" and gen["max_new_tokens"].default == 120


def test_text_tokenize_through_the_api(app):
    """Bare: the default passage, split by the tab's model; with a text: its pieces, in order, and the count."""
    _, client = app
    pieces, table, note = client.predict(api_name="/text_tokenize")
    assert len(table["data"]) >= 3 and "tokens** for" in note
    pieces, table, note = client.predict(model="tiny-text", text="to be", api_name="/text_tokenize")
    reg, _ = app
    ids = reg.get("tiny-text").tokenizer("to be", add_special_tokens=False)["input_ids"]
    assert [row[1] for row in table["data"]] == ids
    assert "".join(p["token"] for p in pieces) == "to be"  # the shown pieces are the text itself
    assert note.startswith(f"**{len(ids)} tokens** for 5 characters")
    with pytest.raises(Exception, match="Type a text to tokenize"):
        client.predict(model="tiny-text", text="", api_name="/text_tokenize")


def test_the_output_reads_as_text_with_a_legend_and_whole_characters(app):
    """The readable view (the last output): the prompt and tokens in order with the model's own line breaks, a
    legend, one span per generated token carrying its step; a character spread over byte tokens shown whole."""
    from studio.text import engine, reading

    reg, client = app
    *_, view = client.predict(model="tiny-text", prompt="to be\nor", max_new_tokens=8, seed=3,
                              api_name="/text_generate")
    assert "Colour = the probability p the sampler gave each generated token" in view
    assert '<span class="p">to be<span class="nl">↵</span>\nor</span>' in view
    assert view.count("data-step=") == 8 and 'data-step="7"' in view
    # bytes of one character: the first tokens show a dot, the one that completes it the character
    from transformers import AutoTokenizer

    from studio.config import REPO_ROOT

    tok = AutoTokenizer.from_pretrained(REPO_ROOT / "checkpoints" / "shakespeare-gpt")  # the built-in byte-level BPE
    ids = tok("好", add_special_tokens=False)["input_ids"]
    assert len(ids) == 3, "the built-in tokenizer spreads 好 over three byte tokens"
    reader = engine.Reader(tok)
    assert [reader.feed(i) for i in ids] == ["", "", "好"]
    run = {"prompt": "", "steps": [{"shown": s, "token": "\ufffd", "prob": 0.5, "raw_prob": 0.5}
                                   for s in ("", "é")]}
    html = reading.reading(run)
    assert ">·</span>" in html and ">é</span>" in html and "\ufffd<" not in html


def test_attention_lens_and_score_answer_bare_and_on_the_last_run(app):
    from gradio_client import Client

    client = Client(app[1].src, verbose=False, ssl_verify=False)  # a new session: no run yet
    fig, view, note = client.predict(api_name="/text_attention")
    assert "On the default passage (no run yet)" in note and "Layer 1, head 1 looks most at" in note
    assert "eager attention" in note and view.count("<span class=\"t") > 10
    fig, table, note = client.predict(api_name="/text_lens")
    assert "its rank, layer by layer" in note
    assert [row[0] for row in table["data"]] == ["layer 1", "embedding"] and len(table["data"][0]) == 7
    ranks = note.split("layer by layer: ")[1].split(".\n")[0].rstrip(".").split(" → ")
    assert [str(row[1]) for row in table["data"]] == ranks[::-1]
    a, b, hist, note = client.predict(api_name="/text_score")
    assert "**A**" in note and "perplexity" in note and b == "" and "top 10" in a
    client.predict(model="tiny-text", prompt="to be", max_new_tokens=6, seed=1, api_name="/text_generate")
    *_, note = client.predict(step=3, api_name="/text_attention")
    n_prompt = len(app[0].get("tiny-text").tokenizer("to be", add_special_tokens=False)["input_ids"])
    assert f"On the last run, step 3: {n_prompt + 3} context tokens" in note  # the prompt and the 3 tokens before
    assert "the token the run picked next was" in note
    *_, note = client.predict(step=3, api_name="/text_lens")
    assert "On the last run, step 3" in note and "the run picked" in note


@pytest.mark.parametrize("endpoint, kwargs, msg", [
    ("/text_attention", {"layer": 2}, r"layer must be a whole number from 1 to 1 \(this model has 1\), got 2"),
    ("/text_attention", {"head": 3}, r"head must be a whole number from 1 to 2 \(this model has 2\), got 3"),
    ("/text_attention", {"head": 0}, r"Value 0 is less than minimum value 1"),  # Gradio's own check, first
    ("/text_lens", {"positions": 40}, r"40 is greater than maximum value 16"),
    ("/text_score", {"text": "  "}, "Paste or type a passage to score"),
    ("/text_score", {"model": "tiny-unet"}, "is a diffusion model; this needs a causal language model"),
])
def test_bad_input_to_the_inside_views_is_named_and_the_tab_keeps_working(app, endpoint, kwargs, msg):
    _, client = app
    with pytest.raises(Exception, match=msg):
        client.predict(**kwargs, api_name=endpoint)
    assert "perplexity" in client.predict(api_name="/text_score")[-1]


def test_the_hosted_limit_and_a_model_without_attention_weights(tiny_text_dir, monkeypatch):
    from studio.errors import StudioError
    from studio.text import inside, inside_tab, tab

    reg = ModelRegistry([ModelSpec(key="tiny-text", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm", builtin=True)], device="cpu")
    ctx = tab.TextContext.of(reg, Settings(max_score_tokens=20))
    with pytest.raises(ValueError, match=r"The passage is \d+ tokens; at most 20 are scored here"):
        inside_tab.text_score(ctx, model="tiny-text")
    assert Settings.from_env({"STUDIO_HOSTED": "1"}).max_score_tokens == 1024
    *_, final = tab.text_generate(ctx, model="tiny-text", max_new_tokens=3)
    with pytest.raises(StudioError, match=r"step must be a whole number from 0 to 2 \(the last run has 3 tokens\)"):
        inside_tab.text_lens(ctx, model="tiny-text", run=final[2], step=3)
    assert Settings.from_env({"STUDIO_MAX_SCORE_TOKENS": "300"}).max_score_tokens == 300

    def refuse(*args, **kwargs):
        raise inside.NoAttentionWeights("MambaForCausalLM gives no attention weights: it is not a transformer")

    monkeypatch.setattr(inside, "attention", refuse)
    with pytest.raises(StudioError, match="gives no attention weights"):
        inside_tab.text_attention(ctx, model="tiny-text")
