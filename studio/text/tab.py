"""The Text tab: a decoding studio. Every computation is an engine call.

The handlers are module-level functions of a ``TextContext`` and keyword arguments (a test calls
``text_generate(ctx, model="shakespeare-gpt", max_new_tokens=5)``); ``build_text_tab`` only lays out and wires.

Why this module is long: seven endpoints over some forty controls (decoding with twenty settings, comparison,
sampling, branching, recipes), each handler with the docstring the API page shows; the computing is all in
studio/text/engine.py. The views inside the model, scoring and the tokenizer are in studio/text/inside_tab.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import gradio as gr

from studio.i18n import N_, T_
from studio.errors import StudioError
from studio.plots import entropy_chart, sample_histogram, stage_bars
from studio.recipe import Recipe
from studio.serving import serving_of
from studio.text import batched, engine, reading
from studio.text.inside_tab import build_inside, bundle_for
from studio.text.engine import PRESETS, DecodeSettings
from studio.text.settings import INT_FIELDS, ORDERS, SAMPLING_ORDER
from studio.ui.i18n import CONTENT_CLASS
from studio.ui.common import Pace, add_model, add_model_box, default_key, plot_of, quiz_order, session_state
from studio.ui.wiring import HEAVY, wired

# The settings in the order of text_generate's arguments: the first ones before the seed, the samplers added later
# after it (so API calls written for the first ones keep working).
FIRST_SETTINGS = ("mode", "temperature", "top_k", "top_p", "min_p", "typical_p", "repetition_penalty",
                  "no_repeat_ngram_size", "num_beams", "length_penalty", "early_stopping", "num_return_sequences",
                  "max_new_tokens")
LATER_SETTINGS = ("epsilon", "eta", "top_n_sigma", "xtc_probability", "xtc_threshold", "dry_multiplier", "dry_base",
                  "dry_allowed_length", "order")
SETTING_NAMES = FIRST_SETTINGS + LATER_SETTINGS
assert sorted(SETTING_NAMES) == sorted(f.name for f in fields(DecodeSettings)), "a DecodeSettings field has no control"
EXAMPLES = ["ROMEO:\nBut soft, what light", "First Citizen:\nWe are accounted poor", "KING RICHARD II:\n",
            "To be, or not to be"]
# Famous first lines from the 唐诗三百首 (in its edition's wording: 静夜思 reads 床前看月光), in simplified characters,
# for the Chinese model: a half-line to complete, or a first line to continue.
ZH_EXAMPLES = ["白日依山尽，", "床前看月光，", "春眠不觉晓，处处闻啼鸟。", "国破山河在，", "朝辞白帝彩云间，",
               "月落乌啼霜满天，"]
ORDER_NOTE = ("**The order the sampler applies them**: the penalties first (repetition penalty → no-repeat n-gram → "
              "DRY), then the sampling stages in the order chosen under *Sampler order* (standard: transformers' "
              "`generate` order, temperature → top-nσ → top-k → top-p → min-p → typical-p → epsilon → eta → XTC), "
              "then one token is drawn. Each panel below shows the distribution after one stage, in the order the "
              "run used, and what that stage removed; red is the token that was picked.")
COMPARE_PRESETS = ["Neutral", "Greedy", "Balanced", "Creative", "(off)"]


def highlighted(run) -> list[tuple[str, float | None]]:
    """Prompt uncoloured, then each generated token coloured by its probability (the darker, the likelier).
    ``run``: a run's dict, or the ``TextRun`` being streamed (no conversion per token)."""
    if isinstance(run, dict):
        prompt, tokens = run["prompt"], [(s["token"], s["prob"]) for s in run["steps"]]
    else:
        prompt, tokens = run.prompt, [(s.token, s.prob) for s in run.steps]
    items = [(prompt, None)] if prompt else [("", None)]
    return items + [(t, round(p, 3)) for t, p in tokens]


def run_summary(run: dict) -> str:
    steps = run["steps"]
    if not steps:
        return N_("No tokens generated.")
    logprob = sum(-s["surprisal"] for s in steps)
    ppl = pow(2.718281828459045, -logprob / len(steps))
    why = {"eos": N_("reached the end-of-text token"), "max_new_tokens": N_("reached max new tokens"),
           "cancelled": N_("stopped by the user")}.get(run.get("stopped", ""), run.get("stopped", ""))
    lines = [" · ".join([N_(f"**{len(steps)} tokens** ({why})"),
                         N_(f"sequence log-probability under the model **{logprob:.2f} nats**"),
                         N_(f"perplexity **{ppl:.2f}**"), N_(f"seed `{run['seed']}`")])]
    lines.append(order_note(run["settings"]))
    lines += [N_(f"ℹ️ {n}") for n in run.get("notices", [])]
    if run.get("beams"):
        lines.append(N_("**Beams** (score = log-probability / length^α):"))
        lines += [f"{i + 1}. `{score:.3f}` {text[:200]!r}" for i, (text, score) in enumerate(run["beams"])]
    return "\n\n".join(lines)


@dataclass(frozen=True)
class TextContext:
    """What the handlers need besides their arguments: the registry, the token limit and the tab's default model.
    The wiring binds it (``studio.ui.common.bind``), so it is never an argument of the call Gradio (or ZeroGPU)
    sees."""

    registry: object
    max_new_tokens: int
    default_model: str | None
    max_score_tokens: int = 4096  # longest text scored or looked inside (Settings.max_score_tokens)

    @classmethod
    def of(cls, registry, settings) -> "TextContext":
        return cls(registry=registry, max_new_tokens=settings.max_new_tokens,
                   default_model=default_key(registry, "text"), max_score_tokens=settings.max_score_tokens)


# --- helpers (ctx: the tab's TextContext) ------------------------------------------------------------------
def settings_dict(values: dict) -> dict:
    d = {k: values[k] for k in SETTING_NAMES}
    for k in INT_FIELDS:
        if isinstance(d[k], float) and d[k].is_integer():
            d[k] = int(d[k])
    return d


def step_view(ctx, key, run, index):
    if not run or not run["steps"]:
        return None, gr.update(choices=[], value=None)
    index = int(max(0, min(index, len(run["steps"]) - 1)))
    s = run["steps"][index]
    ids = sorted({i for g in s["stages"] for i, _ in g["top"]} | {s["token_id"]})
    texts = dict(zip(ids, engine.token_texts(bundle_for(ctx, key), ids)))
    fig = stage_bars(s["stages"], texts, s["token_id"],
                     title=T_(f"step {index}: picked {texts[s['token_id']]!r} (p = {s['prob']:.3f})"))
    raw_top = [i for i, _ in s["stages"][0]["top"]]
    choices = [(f"{texts[i]!r} (raw p = {p:.3f})", i) for i, p in s["stages"][0]["top"]]
    alt = next((i for i in raw_top if i != s["token_id"]), raw_top[0])
    return plot_of(fig), gr.update(choices=choices, value=alt)


def recipe_for(key, prompt_text, sdict, seed_value) -> Recipe:
    return Recipe(family="text", action="generate", model=key, params={"prompt": prompt_text, **sdict},
                  seed=seed_value)


def finish(ctx, key, prompt_text, run, sdict):
    texts = [s["token"] for s in run["steps"]]
    recipe = recipe_for(key, prompt_text, sdict, run["seed"])
    fig, cand = step_view(ctx, key, run, 0)
    return (highlighted(run), run_summary(run), run, gr.update(maximum=max(len(run["steps"]) - 1, 1), value=0),
            fig, cand, plot_of(entropy_chart(run["steps"], texts) if run["steps"] else None), recipe.to_json(),
            recipe.to_python(), reading.reading(run, selected=0))


# --- handlers: what the tab's events call (wrapped in user_errors, and GPU for the heavy ones, when wired) ---
def shared_stream(batcher, bundle, prompt_text, s, seed_value):
    """``engine.stream`` for this request, decoded in one batch with other users' runs on the same model
    (``batched.stream_many``: one forward pass a step for all of them, each row with its own settings and seed);
    alone, as ``engine.stream``, when it would outgrow the model's context (the sliding window is per run)."""
    ids, notices = engine.prepare_prompt(bundle, prompt_text)
    if batched.fits_one_window(bundle, ids, s):
        request = {"prompt_ids": ids, "notices": notices, "settings": s, "seed": seed_value}
        return batcher.submit(("text", id(bundle.model)), request, 1,
                              lambda requests, live: batched.stream_many(bundle, requests, live), max_rows=16,
                              newest=True)
    return batcher.submit(("text-alone", object()), None, 1,
                          lambda _: ([out] for out in engine.stream(bundle, prompt=prompt_text, settings=s, seed=seed_value)))


def text_generate(ctx, model=None, prompt=EXAMPLES[0], mode="sample", temperature=0.8, top_k=0, top_p=0.95,
                  min_p=0.0, typical_p=1.0, repetition_penalty=1.1, no_repeat_ngram_size=0, num_beams=4,
                  length_penalty=1.0, early_stopping=True, num_return_sequences=1, max_new_tokens=120, seed=1234,
                  epsilon=0.0, eta=0.0, top_n_sigma=0.0, xtc_probability=0.0, xtc_threshold=0.1, dry_multiplier=0.0,
                  dry_base=1.75, dry_allowed_length=2, order="standard"):
    """Generate from the prompt, streaming token by token; returns the tokens with their probabilities, a summary,
    the per-token views, the recipe and, last, the text as it reads (HTML: the model's line breaks kept, each token
    coloured by its probability, with a legend). Every setting has a default, so it can be called with no arguments.

    Args:
        model: a text model key from the Models tab (built-in, a Hub id or a local folder that was added).
        prompt: the text the model continues.
        mode: "greedy", "sample" or "beam".
        temperature: divides the logits before sampling (sample mode); below 1 sharper, above 1 flatter.
        top_k: keep only the k most likely tokens (0 = off).
        top_p: nucleus sampling, keep the smallest set of tokens whose probability reaches p (1 = off).
        min_p: drop tokens less likely than min_p times the top token's probability (0 = off).
        typical_p: locally typical sampling mass (1 = off).
        repetition_penalty: divides the logits of tokens already in the text (1 = off), every mode.
        no_repeat_ngram_size: forbid repeating any n-gram of this size (0 = off), every mode.
        num_beams: beams kept by beam search (beam mode).
        length_penalty: beam scores are divided by length**alpha (beam mode).
        early_stopping: stop the beam search once enough beams have ended (beam mode).
        num_return_sequences: how many finished beams to return (beam mode).
        max_new_tokens: the most tokens to generate.
        seed: the random seed; -1 draws a fresh one (shown in the summary).
        epsilon: epsilon sampling, drop tokens less likely than epsilon (0 = off; Hewitt et al. 2022).
        eta: eta sampling, drop tokens less likely than min(eta, sqrt(eta)·exp(-entropy)) (0 = off).
        top_n_sigma: keep tokens whose logit is within n standard deviations of the top logit (0 = off;
            Tang et al. 2024).
        xtc_probability: how often XTC ("exclude top choices") acts at a step (0 = off).
        xtc_threshold: XTC removes every token at or above this probability but the least likely of them.
        dry_multiplier: DRY repetition penalty strength (0 = off), every mode.
        dry_base: DRY's growth per extra repeated token.
        dry_allowed_length: the longest repeat DRY lets pass.
        order: the sampling stages' order: "standard", "temperature last", or every stage once, comma-separated
            (temperature, top_n_sigma, top_k, top_p, min_p, typical_p, epsilon, eta, xtc).
    """
    sdict = settings_dict(locals())
    key, prompt_text, seed_value = model, prompt, seed
    bundle = bundle_for(ctx, key)
    s = DecodeSettings.from_dict(sdict).validated(max_new_tokens_limit=ctx.max_new_tokens, vocab_size=len(bundle.tokenizer))
    seed_value = engine.resolve_seed(seed_value)
    served = serving_of(ctx.registry)
    if s.mode == "beam":
        with served.gate:
            run = engine.generate(bundle, seed=seed_value, prompt=prompt_text, max_new_tokens_limit=ctx.max_new_tokens,
                                  **asdict(s)).to_dict()
        yield finish(ctx, key, prompt_text, run, asdict(s))
        return
    run, pace = None, Pace()
    for _, partial in shared_stream(served.batcher, bundle, prompt_text, s, seed_value):
        run = partial
        if pace.due():  # at most ten previews a second (Pace), then the whole run
            yield (highlighted(run), N_(f"generating… {len(run.steps)} tokens"), gr.skip(), gr.skip(),
                   gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), reading.reading(run))
    yield finish(ctx, key, prompt_text, run.to_dict(), asdict(s))


def text_step(ctx, model, run, step):
    """Show the candidates at one step, and outline its token in the text."""
    fig, cand = step_view(ctx, model, run, step)
    return fig, cand, reading.reading(run, selected=int(step)) if run else ""


def token_selected(run, evt: gr.SelectData):
    if not run or evt.index is None:
        return gr.skip()
    index = evt.index if isinstance(evt.index, int) else evt.index[0]
    return max(0, min(int(index) - 1, len(run["steps"]) - 1))  # item 0 is the prompt


def token_clicked(run, evt: gr.EventData):
    """A click on a token of the readable text: its step (the span carries it)."""
    step = getattr(evt, "_data", {}).get("step") if evt is not None else None
    if not run or not isinstance(step, int) or not run["steps"]:
        return gr.skip()
    return max(0, min(step, len(run["steps"]) - 1))


def text_sample(ctx, model=None, run=None, step=0, draws=500, seed=1234):
    """Draw the next token N times at the chosen step of this session's last run and compare the counts with
    the predicted probabilities. Needs a run made by text_generate (mode "sample") first.

    Args:
        model: the text model key of that run.
        step: which generated token (0 = the first).
        draws: how many times to draw the token (10 to 5000).
        seed: the random seed of the draws; -1 draws a fresh one.
    """
    key, index, n, seed_value = model, step, draws, seed
    if not run or not run["steps"]:
        raise StudioError("Generate something first, then pick a step.")
    index = int(max(0, min(index, len(run["steps"]) - 1)))
    sdict = dict(run["settings"])
    if sdict["mode"] != "sample":
        raise StudioError("Sample N needs a run made with mode 'sample' (greedy and beam always pick the top token).")
    context = run["prompt_ids"] + [s["token_id"] for s in run["steps"][:index]]
    result = engine.sample_n(bundle_for(ctx, key), seed=engine.resolve_seed(seed_value), context_ids=context,
                             n=int(n), settings=sdict)
    return plot_of(sample_histogram(result))


def text_branch(ctx, model=None, run=None, step=0, token_id=None, seed=1234):
    """Continue this session's last run from the chosen step with another candidate token (default: the most
    likely token other than the one that was picked). Needs a run made by text_generate first.

    Args:
        model: the text model key of that run.
        step: the step to branch at (0 = the first generated token).
        token_id: the token id to put there instead (one of the step's candidates); None = the runner-up.
        seed: the random seed of the continuation; -1 draws a fresh one.
    """
    key, index, seed_value = model, step, seed
    if not run or not run["steps"]:
        raise StudioError("Generate something first, then pick a step and a candidate.")
    index = int(max(0, min(index, len(run["steps"]) - 1)))
    if token_id is None:
        step_record = run["steps"][index]
        token_id = next((i for i, _ in step_record["stages"][0]["top"] if i != step_record["token_id"]),
                        step_record["token_id"])
    context = run["prompt_ids"] + [s["token_id"] for s in run["steps"][:index]]
    remaining = max(1, len(run["steps"]) - index)
    new = engine.branch(bundle_for(ctx, key), seed=engine.resolve_seed(seed_value), context_ids=context,
                        token_id=int(token_id), max_new_tokens=remaining, settings=run["settings"],
                        max_new_tokens_limit=ctx.max_new_tokens).to_dict()
    picked = engine.token_texts(bundle_for(ctx, key), [int(token_id)])[0]
    new["notices"] = [N_(f"Branched at step {index} with {picked!r}.")]
    return finish(ctx, key, new["prompt"], new, run["settings"])


def text_compare(ctx, model=None, prompt=EXAMPLES[0], column_a_preset="Greedy", column_a_temperature=1.0,
                 column_b_preset="Neutral", column_b_temperature=0.7, column_c_preset="Neutral",
                 column_c_temperature=1.5, max_new_tokens=120, seed=1234, quiz=False):
    """The same prompt under up to three settings with shared randomness (one uniform draw per step). Returns each
    column's tokens with their probabilities, the summary (or the quiz question) and, last, each column as it reads
    (HTML, coloured by probability).

    Args:
        model: a text model key.
        prompt: the text every column continues.
        column_a_preset: column A's preset ("Greedy", "Neutral", "Balanced", ... or "(off)").
        column_a_temperature: column A's temperature (sampling presets only).
        column_b_preset: column B's preset.
        column_b_temperature: column B's temperature.
        column_c_preset: column C's preset.
        column_c_temperature: column C's temperature.
        max_new_tokens: tokens per column.
        seed: the shared random seed; -1 draws a fresh one.
        quiz: shuffle the columns (with the seed, so a class sees the same order again) and hide which setting
            made which until text_reveal.
    """
    key, prompt_text, seed_value = model, prompt, seed
    pa, ta, pb, tb, pc, tc = (column_a_preset, column_a_temperature, column_b_preset, column_b_temperature,
                              column_c_preset, column_c_temperature)
    cols, names = [], []
    for name, p, t in (("A", pa, ta), ("B", pb, tb), ("C", pc, tc)):
        if p == "(off)":
            continue
        if not isinstance(p, str) or p not in PRESETS or p == "Beam":
            raise StudioError(f"Column {name}: preset must be one of {', '.join(COMPARE_PRESETS)}, got {p!r}.")
        col = {k: v for k, v in asdict(PRESETS[p]).items() if k != "max_new_tokens"}
        if col["mode"] == "sample":
            col["temperature"] = t
        cols.append(col)
        names.append(name)
    if not cols:
        raise StudioError("Turn on at least one column.")
    seed_value = engine.resolve_seed(seed_value)
    runs = engine.compare(bundle_for(ctx, key), seed=seed_value, prompt=prompt_text, columns=cols,
                          max_new_tokens=int(max_new_tokens), max_new_tokens_limit=ctx.max_new_tokens)
    outs, lines, views = [[("(off)", None)]] * 3, [], [""] * 3
    whats = [N_("greedy") if col["mode"] == "greedy" else N_(f"sample, T = {col['temperature']}") for col in cols]
    order = list(range(len(runs)))
    if quiz:
        order = quiz_order(len(runs), seed_value)
    answer = []
    for slot, j in zip(names, order):  # the slot's column shows run j
        d = runs[j].to_dict()
        outs["ABC".index(slot)] = highlighted(d)
        views["ABC".index(slot)] = reading.reading(d, clickable=False)
        lines.append(N_(f"**{names[j]}** ({whats[j]}): log-prob {d['logprob']:.2f} nats, "
                        f"perplexity {d['perplexity']:.2f}"))
        answer.append(N_(f"**Column {slot}**: {whats[j]}") + " · " + N_(f"perplexity **{d['perplexity']:.2f}**"))
    if not quiz:
        return (*outs, "\n\n".join([N_(f"Seed `{seed_value}`"), *lines]), None, *views)
    settings_shown = "; ".join(sorted(whats))
    question = N_(f"Which column is which setting? The settings: {settings_shown}. Same prompt, same seed, the "
                  f"same random draw at every step. Discuss, then press **Reveal**.")
    return (*outs, question, "\n\n".join(answer), *views)


def text_reveal(answer=None):
    """The answer to this session's last quiz comparison: which setting each column had. Needs a
    text_compare with quiz=True first."""
    if not answer:
        raise StudioError("Nothing to reveal yet. Run a comparison with the quiz box ticked (text_compare with "
                          "quiz=True) first, then press Reveal.")
    return answer


def apply_preset(name):
    p = asdict(PRESETS[name])
    return [gr.update(value=p[k]) for k in SETTING_NAMES if k != "max_new_tokens"]


def order_note(sdict) -> str:
    """The order this run's stages were applied in (the panels follow it)."""
    names = [n for n, _ in DecodeSettings.from_dict(sdict).stages()]
    return N_(f"Stages this run applied, in order: {' → '.join(['raw', *names])}.")


def mode_changed(m):
    off = DecodeSettings(mode=m).inactive_controls()
    updates = [gr.update(interactive=k not in off, info=off.get(k)) for k in SETTING_NAMES if k != "max_new_tokens"]
    names = ", ".join(f"`{k}`" for k in off)
    note = N_(f"Greyed out in this mode: {names}. Sampling controls act only when sampling; beam controls "
              "only in beam search.") if off else ""
    return [*updates, note]


def text_apply_recipe(ctx, recipe=""):
    """Set every control from a text/generate recipe (JSON), as exported by text_generate.

    Args:
        recipe: the recipe's JSON text, as the Recipe box shows it.
    """
    r = Recipe.from_tab_box(recipe, family="text", action="generate", tab="Text", verb="generate")
    params = dict(r.params)
    prompt_text = params.pop("prompt", "")
    s = DecodeSettings.from_dict(params).validated(max_new_tokens_limit=ctx.max_new_tokens)
    ctx.registry.spec(r.model)
    vals = asdict(s)
    return [r.model, prompt_text, *[vals[k] for k in FIRST_SETTINGS], r.seed if r.seed is not None else -1,
            *[vals[k] for k in LATER_SETTINGS]]


def text_add_model(ctx, source=""):
    """Add a causal language model by Hugging Face Hub id (gpt2, HuggingFaceTB/SmolLM2-135M, ...) or a local
    folder saved with save_pretrained, load it, and select it.

    Args:
        source: the Hub id or the folder's path (safetensors weights only; trust_remote_code is never set).
    """
    spec, _ = add_model(ctx.registry, "text", source)
    return gr.update(choices=ctx.registry.keys("text"), value=spec.key)


def chinese_model(registry) -> str | None:
    """The built-in text model whose card says it writes Chinese (``studio.language: zh``), if there is one."""
    from studio.text.corpora import card_field

    return next((s.key for s in registry.specs("text") if s.builtin and card_field(s, "language") == "zh"), None)


def build_text_tab(registry, settings) -> dict:
    """The Text tab (call inside a ``gr.Blocks``): lays out the controls and wires them to the handlers above.
    Returns what a page in another language opens on: ``lang_defaults`` and ``lang_blocks`` for
    ``studio.ui.share.install``, under "share" (see studio/tabs.py) (the Chinese page: the Chinese model, a Tang first line, Chinese examples)."""
    ctx = TextContext.of(registry, settings)
    keys, default_model, limit = registry.keys("text"), ctx.default_model, ctx.max_new_tokens
    gr.Markdown("Type a prompt and watch a language model write, one token at a time. Every token is coloured by "
                "how likely the sampler made it; click one to see the candidates it was drawn from, stage by stage.")
    run_state = session_state()
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                model = gr.Dropdown(keys, value=default_model, label="Model", elem_id="text-model",
                                    allow_custom_value=True, scale=3,
                                    info="Built-in: trained by this project, works offline. Hub models need a download.")
                hub_id, hub_btn = add_model_box(registry, "text", "Add a causal LM: Hub id or folder",
                                                "e.g. gpt2")
            prompt = gr.Textbox(value=EXAMPLES[0], label="Prompt", lines=3, elem_id="text-prompt")
            zh_model = chinese_model(registry)
            with gr.Column() as en_examples:
                gr.Examples([[e] for e in EXAMPLES], inputs=[prompt], label="Example prompts")
            with gr.Column(visible=False) as zh_examples:
                gr.Examples([[e] for e in ZH_EXAMPLES], inputs=[prompt], label="Example prompts (Tang poems)")
        with gr.Column(scale=2):
            preset = gr.Radio(list(PRESETS), value="Balanced", label="Preset", elem_id="text-preset",
                              info="Sets the controls below. Neutral = plain sampling, every filter off.")
            mode = gr.Radio(list(engine.MODES), value="sample", label="Decoding", elem_id="text-mode")
            with gr.Row():
                max_new = gr.Slider(1, limit, value=min(120, limit), step=1, label="Max new tokens",
                                    elem_id="text-max-new")
                seed = gr.Number(value=1234, precision=0, label="Seed (-1 = random)", elem_id="text-seed")
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Sampling**")
            temperature = gr.Slider(0.05, 3.0, value=0.8, step=0.05, label="Temperature", elem_id="text-temperature")
            top_k = gr.Slider(0, 200, value=0, step=1, label="Top-k (0 = off)", elem_id="text-top-k")
            top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.01, label="Top-p (1 = off)", elem_id="text-top-p")
            min_p = gr.Slider(0.0, 0.5, value=0.0, step=0.01, label="Min-p (0 = off)", elem_id="text-min-p")
            typical_p = gr.Slider(0.05, 1.0, value=1.0, step=0.01, label="Typical-p (1 = off)", elem_id="text-typical-p")
        with gr.Column():
            gr.Markdown("**Every mode**")
            repetition_penalty = gr.Slider(1.0, 2.0, value=1.1, step=0.05, label="Repetition penalty (1 = off)",
                                           elem_id="text-repetition-penalty")
            no_repeat = gr.Slider(0, 6, value=0, step=1, label="No-repeat n-gram size (0 = off)",
                                  elem_id="text-no-repeat")
            gr.Markdown("**Beam search**")
            off = DecodeSettings(mode="sample").inactive_controls()  # the default mode's disabled controls
            num_beams = gr.Slider(1, 8, value=4, step=1, label="Beams", elem_id="text-num-beams", interactive=False,
                                  info=off["num_beams"])
            length_penalty = gr.Slider(-2.0, 2.0, value=1.0, step=0.1, label="Length penalty α", interactive=False,
                                       elem_id="text-length-penalty", info=off["length_penalty"])
            early_stopping = gr.Checkbox(value=True, label="Early stopping", elem_id="text-early-stopping",
                                         interactive=False, info=off["early_stopping"])
            num_return = gr.Slider(1, 8, value=1, step=1, label="Sequences returned", elem_id="text-num-return",
                                   interactive=False, info=off["num_return_sequences"])
    with gr.Accordion("More samplers (epsilon, eta, top-nσ, XTC, DRY) and the sampler order", open=False):
        gr.Markdown("Newer stages people ask for, each from its source: **epsilon** and **eta** sampling (Hewitt, "
                    "Manning and Liang 2022, transformers' warpers); **top-nσ** (Tang et al. 2024) keeps the tokens "
                    "whose logit is within n standard deviations of the top one; **XTC** (text-generation-webui PR "
                    "#6335) sometimes removes the likeliest tokens, all those above its threshold but the least "
                    "likely; **DRY** (text-generation-webui PR #5677) penalises a token that would extend a repeat of "
                    "an earlier passage, more the longer the repeat (every mode). The last three are written in "
                    "`studio/text/samplers.py`.")
        with gr.Row():
            with gr.Column():
                epsilon = gr.Slider(0.0, 0.05, value=0.0, step=0.0005, label="Epsilon (0 = off)", elem_id="text-epsilon")
                eta = gr.Slider(0.0, 0.05, value=0.0, step=0.0005, label="Eta (0 = off)", elem_id="text-eta")
                top_n_sigma = gr.Slider(0.0, 5.0, value=0.0, step=0.1, label="Top-nσ (0 = off)",
                                        elem_id="text-top-n-sigma")
            with gr.Column():
                xtc_probability = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="XTC probability (0 = off)",
                                            elem_id="text-xtc-probability")
                xtc_threshold = gr.Slider(0.0, 0.5, value=0.1, step=0.01, label="XTC threshold",
                                          elem_id="text-xtc-threshold")
                order = gr.Dropdown(list(ORDERS), value="standard", allow_custom_value=True, label="Sampler order",
                                    elem_id="text-order",
                                    info="Or type every stage once, comma-separated: " + ", ".join(SAMPLING_ORDER))
            with gr.Column():
                dry_multiplier = gr.Slider(0.0, 3.0, value=0.0, step=0.05, label="DRY multiplier (0 = off)",
                                           elem_id="text-dry-multiplier")
                dry_base = gr.Slider(1.0, 4.0, value=1.75, step=0.05, label="DRY base", elem_id="text-dry-base")
                dry_allowed_length = gr.Slider(1, 20, value=2, step=1, label="DRY allowed length",
                                               elem_id="text-dry-allowed-length")
    inactive_note = gr.Markdown(elem_id="text-inactive-note")
    with gr.Row():
        go = gr.Button("Generate", variant="primary", elem_id="text-generate")
        stop = gr.Button("Stop", variant="stop", elem_id="text-stop")
    text_view = gr.HTML(label="Output", elem_id="text-reading", elem_classes=[CONTENT_CLASS],
                        css_template=reading.CSS, js_on_load=reading.CLICK_JS, padding=False)
    # The same tokens as data (text, probability) for API callers; the page shows the readable view above.
    output = gr.HighlightedText(label="Output tokens (text, probability)", elem_id="text-output", visible=False,
                                show_legend=False, combine_adjacent=False)
    stats = gr.Markdown(elem_id="text-stats")
    with gr.Accordion("Inside one step: the candidates, stage by stage", open=True):
        gr.Markdown(ORDER_NOTE)
        step = gr.Slider(0, 1, value=0, step=1, label="Step (click a token above, or slide)", elem_id="text-step")
        step_plot = gr.Plot(label="Next-token candidates at this step", elem_id="text-step-plot")
        with gr.Row():
            candidate = gr.Dropdown([], label="Branch: continue from this step with another candidate",
                                    elem_id="text-branch-token", scale=3)
            branch_btn = gr.Button("Branch", elem_id="text-branch", scale=1)
        with gr.Row():
            n_draws = gr.Slider(10, 5000, value=500, step=10, label="Sample N times at this step",
                                elem_id="text-sample-n", scale=3)
            sample_btn = gr.Button("Sample N", elem_id="text-sample", scale=1)
        sample_plot = gr.Plot(label="N draws against the predicted probabilities", elem_id="text-sample-plot")
    entropy_plot = gr.Plot(label="Surprisal and entropy per token", elem_id="text-entropy-plot")
    with gr.Accordion("Compare settings side by side (shared randomness)", open=False):
        gr.Markdown("The same prompt under up to three settings. At every step all columns use **the same uniform "
                    "random draw**, so the only difference between columns is how each reshapes the distribution.")
        with gr.Row():
            cmp_cols = []
            for name, pre, t in (("A", "Greedy", 1.0), ("B", "Neutral", 0.7), ("C", "Neutral", 1.5)):
                with gr.Column():
                    p = gr.Dropdown(COMPARE_PRESETS, value=pre, label=f"Column {name} preset",
                                    elem_id=f"text-cmp-preset-{name.lower()}")
                    tt = gr.Slider(0.05, 3.0, value=t, step=0.05, label=f"Column {name} temperature",
                                   elem_id=f"text-cmp-temp-{name.lower()}")
                    cmp_cols.append((p, tt))
        cmp_quiz = gr.Checkbox(value=False, elem_id="text-cmp-quiz",
                               label="Predict, then reveal: shuffle the columns and hide their settings until Reveal")
        with gr.Row():
            cmp_btn = gr.Button("Compare", elem_id="text-compare")
            cmp_reveal_btn = gr.Button("Reveal", elem_id="text-cmp-reveal")
        with gr.Row():
            cmp_views = [gr.HTML(label=f"Column {n}", elem_id=f"text-cmp-view-{n.lower()}", elem_classes=[CONTENT_CLASS],
                                 css_template=reading.CSS, padding=False) for n in "ABC"]
        # the columns' tokens as data (text, probability) for API callers; the page shows the readable views
        cmp_out = [gr.HighlightedText(label=f"Column {n}", elem_id=f"text-cmp-out-{n.lower()}", visible=False,
                                      combine_adjacent=False) for n in "ABC"]
        cmp_stats = gr.Markdown(elem_id="text-cmp-stats")
        cmp_answer = session_state()
    build_inside(ctx, model=model, prompt=prompt, run_state=run_state, step=step)
    with gr.Accordion("Recipe: export, import, reproduce in Python", open=False):
        recipe_json = gr.Code(value="", language="json", label="Recipe (edit or paste one, then Apply)", elem_id="text-recipe",
                              interactive=True)
        apply_btn = gr.Button("Apply recipe to the controls", elem_id="text-recipe-apply")
        python_code = gr.Code(language="python", label="Reproduce with the engine", elem_id="text-python")

    setting_inputs = [mode, temperature, top_k, top_p, min_p, typical_p, repetition_penalty, no_repeat, num_beams,
                      length_penalty, early_stopping, num_return, max_new]
    later_inputs = [epsilon, eta, top_n_sigma, xtc_probability, xtc_threshold, dry_multiplier, dry_base,
                    dry_allowed_length, order]
    components = dict(zip(SETTING_NAMES, setting_inputs + later_inputs))

    # --- wiring -------------------------------------------------------------------------------------
    outs = [output, stats, run_state, step, step_plot, candidate, entropy_plot, recipe_json, python_code, text_view]
    gen_event = go.click(wired(text_generate, ctx, gpu=True, replay=True, batched=True),
                         [model, prompt, *setting_inputs, seed, *later_inputs], outs, api_name="text_generate",
                         concurrency_id=HEAVY)
    stop.click(None, None, None, cancels=[gen_event], api_visibility="private")
    output.select(token_selected, [run_state], [step], api_visibility="private")
    text_view.click(token_clicked, [run_state], [step], api_visibility="private")
    step.change(wired(text_step, ctx), [model, run_state, step], [step_plot, candidate, text_view], api_visibility="private",
                trigger_mode="always_last")
    sample_btn.click(wired(text_sample, ctx, gpu=True),
                     [model, run_state, step, n_draws, seed], [sample_plot], api_name="text_sample",
                     concurrency_id=HEAVY)
    branch_btn.click(wired(text_branch, ctx, gpu=True),
                     [model, run_state, step, candidate, seed], outs, api_name="text_branch",
                     concurrency_id=HEAVY)
    cmp_btn.click(wired(text_compare, ctx, gpu=True, replay=True),
                  [model, prompt, *[c for col in cmp_cols for c in col], max_new, seed, cmp_quiz],
                  [*cmp_out, cmp_stats, cmp_answer, *cmp_views], api_name="text_compare", concurrency_id=HEAVY)
    cmp_reveal_btn.click(wired(text_reveal, ctx), cmp_answer, cmp_stats, api_name="text_reveal")
    preset.change(apply_preset, preset, [components[k] for k in SETTING_NAMES if k != "max_new_tokens"],
                  api_visibility="private")
    mode.change(mode_changed, mode, [*[components[k] for k in SETTING_NAMES if k != "max_new_tokens"], inactive_note],
                api_visibility="private")
    apply_btn.click(wired(text_apply_recipe, ctx),
                    recipe_json, [model, prompt, *setting_inputs, seed, *later_inputs], api_name="text_apply_recipe")
    hub_btn.click(wired(text_add_model, ctx), hub_id, model, api_name="text_add_model", concurrency_id=HEAVY)

    if zh_model is None:
        return {"share": {"lang_defaults": {}, "lang_blocks": {}}}
    return {"share": {"lang_defaults": {"text-model": {"zh-CN": zh_model}, "text-prompt": {"zh-CN": ZH_EXAMPLES[0]}},
            "lang_blocks": {en_examples: ("en",), zh_examples: ("zh-CN",)}}}
