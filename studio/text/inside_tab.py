"""The Text tab's second half: inside the model (attention, the logit lens), scoring any text (GLTR) and the
tokenizer. Handlers are module-level functions of the tab's ``TextContext``, like the first half's
(``studio/text/tab.py``); every computation is an engine call (``studio/text/inside.py``, ``score.py``)."""

from __future__ import annotations

import gradio as gr

from studio.errors import StudioError
from studio.i18n import N_
from studio.text import engine, figures, inside, reading, score
from studio.ui.common import family_bundle, plot_of
from studio.ui.wiring import HEAVY, wired
from studio.ui.i18n import CONTENT_CLASS

# A human-written passage from the held-out tenth of Tiny Shakespeare (The Taming of the Shrew), never trained on.
HUMAN_PASSAGE = ("Servant:\nMistress, your father prays you leave your books\nAnd help to dress your sister's chamber "
                 "up:\nYou know to-morrow is the wedding-day.\n\nBIANCA:\nFarewell, sweet masters both; I must be "
                 "gone.\n\nLUCENTIO:\nFaith, mistress, then I have no cause to stay.")


def bundle_for(ctx, key):
    return family_bundle(ctx.registry, key, "text", "causal language model")


def context_of(bundle, run, step):
    """(context ids, the token chosen after them or None, what it is): the session's last run at ``step``, or the
    default passage when there is no run."""
    if run and run.get("steps"):
        n = len(run["steps"])
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 <= step < n:
            raise StudioError(f"step must be a whole number from 0 to {n - 1} (the last run has {n} tokens), "
                              f"got {step!r}.")
        step = int(step)
        ids = run["prompt_ids"] + [s["token_id"] for s in run["steps"][:step]]
        return ids, run["steps"][step]["token_id"], N_(f"the last run, step {step}")
    ids = bundle.tokenizer(HUMAN_PASSAGE, add_special_tokens=False)["input_ids"]
    return ids, None, N_("the default passage (no run yet)")


def text_attention(ctx, model=None, run=None, step=0, layer=1, head=1):
    """Attention inside the model for the selected step of this session's last run (or a default passage): every
    layer's heads × context map from the token that predicts the step's token, and one head's weights drawn over
    the text.

    Args:
        model: a text model key (the run's).
        step: which generated token (0 = the first).
        layer: the layer whose head is drawn over the text (1 = the first).
        head: that layer's head (1 = the first).
    """
    bundle = bundle_for(ctx, model)
    ids, chosen, what = context_of(bundle, run, step)
    try:
        att = inside.attention(bundle, ids, max_tokens=ctx.max_score_tokens)
    except inside.NoAttentionWeights as e:
        raise StudioError(str(e)) from e
    for name, value, n in (("layer", layer, att["layers"]), ("head", head, att["heads"])):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 1 <= value <= n:
            raise StudioError(f"{name} must be a whole number from 1 to {n} (this model has {n}), got {value!r}.")
    layer, head = int(layer), int(head)
    weights = att["weights"][layer - 1][head - 1]
    order = sorted(range(len(weights)), key=lambda i: -weights[i])[:3]
    top = ", ".join(f"{att['tokens'][i]!r} ({weights[i]:.2f})" for i in order)
    target = engine.token_texts(bundle, [chosen])[0] if chosen is not None else None
    note = [N_(f"On {what}: {len(ids)} context tokens, {att['layers']} layers × {att['heads']} heads."),
            N_(f"Weights: {att['how']}."),
            N_(f"Layer {layer}, head {head} looks most at {top}.")]
    if target is not None:
        note.insert(1, N_(f"The query is the last context token {att['tokens'][-1]!r}; the token the run picked "
                          f"next was {target!r}."))
    fig = figures.attention_maps(att, layer=layer - 1, head=head - 1)
    return plot_of(fig), reading.head_view(att["tokens"], weights, len(ids) - 1), "\n\n".join(note)


def text_lens(ctx, model=None, run=None, step=0, positions=8):
    """The logit lens on the selected step of this session's last run (or a default passage): what each layer
    would predict next (the final norm and unembedding applied to its residual stream) at the last positions; a
    table of each layer's top 5 candidates at the last position and the rank it gives the target.

    Args:
        model: a text model key (the run's).
        step: which generated token (0 = the first); its token is the target at the last position.
        positions: how many positions, ending at the step, to show (1 to 16).
    """
    bundle = bundle_for(ctx, model)
    ids, chosen, what = context_of(bundle, run, step)
    if isinstance(positions, bool) or not isinstance(positions, (int, float)) or not 1 <= positions <= 16:
        raise StudioError(f"positions must be a whole number from 1 to 16, got {positions!r}.")
    lens = inside.logit_lens(bundle, ids, chosen=chosen, positions=int(positions), max_tokens=ctx.max_score_tokens)
    ranks = [row[-1] for row in lens["rank"]]
    first = next((lens["layers"][i] for i, r in enumerate(ranks) if r == 1), None)
    target = lens["target_texts"][-1]
    path = " → ".join(str(r) for r in ranks)
    lines = [N_(f"On {what}. At the last position the target is {target!r} (the token the run picked); its rank, "
                f"layer by layer: {path}.") if chosen is not None else
             N_(f"On {what}. At the last position the target is {target!r} (the token the model ranks first); its "
                f"rank, layer by layer: {path}."),
             N_(f"It first becomes the top guess at: {first}.") if first else
             N_("No layer ranks it first (the sampler picked a less likely token).")]
    table = [[name, ranks[i], *[f"{text!r} {prob:.3f}" for text, prob in lens["top"][i][-1]]]
             for i, name in enumerate(lens["layers"])][::-1]  # the last layer first, as in the grid
    return plot_of(figures.lens_grid(lens)), table, "\n\n".join(lines)


def text_score(ctx, model=None, text=HUMAN_PASSAGE, other=""):
    """Score a passage under the model, GLTR style: each token coloured by its rank among the model's predictions
    (top 10 / 100 / 1000 / beyond), a histogram of the ranks and the perplexity. Give a second passage (e.g. the
    last generation) to see them side by side.

    Args:
        model: a text model key.
        text: the passage to score (default: human-written lines the built-in model never trained on).
        other: a second passage to set beside it (empty: none).
    """
    bundle = bundle_for(ctx, model)
    passages = [(N_("A"), text)] + ([(N_("B"), other)] if isinstance(other, str) and other.strip() else [])
    results, views, lines = [], [], []
    for label, passage in passages:
        s = score.score(bundle, passage, max_tokens=ctx.max_score_tokens)
        results.append((label, s))
        views.append(reading.gltr(s))
        h = s["histogram"]
        line = N_(f"**{label}**: {s['scored']} tokens scored, perplexity **{s['perplexity']:.2f}** (mean surprisal "
                  f"{s['mean_surprisal']:.2f} nats); top 10: {h['top 10']}, top 100: {h['top 100']}, top 1000: "
                  f"{h['top 1000']}, beyond: {h['beyond']}.")
        if s["windows"] > 1:
            line += "\n" + N_(f"Longer than the model's context: {s['windows']} windows of {s['window']} tokens, "
                             f"moving by {s['stride']}.")
        lines.append(line)
    lines.append(N_("Text a model sampled itself sits mostly in its top 10; human writing reaches further down "
                    "the ranks (Gehrmann, Strobelt and Rush 2019)."))
    return (views[0], views[1] if len(views) > 1 else "", plot_of(figures.rank_histogram(results)), "\n\n".join(lines))


def last_generation(ctx, run):
    if not run or not run.get("steps"):
        raise StudioError("Generate something first: its text becomes passage B.")
    return run["text"]


def text_tokenize(ctx, model=None, text=HUMAN_PASSAGE):
    """How a text splits into the model's tokens: each piece (adjacent pieces alternate colours), a table of ids
    and vocabulary entries, and the count. A character spread over several byte tokens shows whole on the last.

    Args:
        model: a text model key (each model has its own tokenizer).
        text: the text to split (e.g. the prompt).
    """
    out = engine.tokenize(bundle_for(ctx, model), text)
    spans = [(p["text"] or "·", "byte" if p["part_of_next"] else "ab"[i % 2]) for i, p in enumerate(out["pieces"])]
    rows = [[i, p["id"], p["token"], repr(p["text"]) if p["text"] else N_("(part of the next character)")]
            for i, p in enumerate(out["pieces"])]
    summary = N_(f"**{out['count']} tokens** for {out['chars']} characters ({out['chars_per_token']} characters per "
                 f"token). The model reads ids, never letters: a word it has seen often is one token, a rare one "
                 f"several; a Chinese character or an emoji can take two to four byte tokens.")
    return spans, rows, summary


def build_inside(ctx, *, model, prompt, run_state, step) -> None:
    """The accordions (call inside the Text tab's layout): attention, the logit lens, scoring, the tokenizer."""
    html = dict(elem_classes=[CONTENT_CLASS], css_template=reading.CSS, padding=False)
    with gr.Accordion("Attention: what each head looks at, for the selected step", open=False):
        gr.Markdown("Computed on demand from the model's real weights for the step selected above (click a token): "
                    "each layer's heads × context map from the token that predicts the selected one, and one head's "
                    "weights drawn over the text (bertviz's head view, Vig 2019).")
        with gr.Row():
            att_layer = gr.Number(value=1, precision=0, minimum=1, label="Layer (1 = first)", elem_id="text-att-layer")
            att_head = gr.Number(value=1, precision=0, minimum=1, label="Head (1 = first)", elem_id="text-att-head")
            att_btn = gr.Button("Show attention", elem_id="text-attention")
        att_plot = gr.Plot(label="Attention per layer (rows: heads; columns: context tokens)", elem_id="text-att-plot")
        att_view = gr.HTML(elem_id="text-att-view", **html)
        att_note = gr.Markdown(elem_id="text-att-note")
    with gr.Accordion("Logit lens: what each layer would predict next", open=False):
        gr.Markdown("The residual stream after every layer, read out through the model's final norm and unembedding "
                    "(nostalgebraist 2020): the guess the model would make if it stopped there. The last layer's "
                    "reading is the model's own prediction. With tied input and output embeddings (GPT-2, the built-in "
                    "model) the embedding row mostly guesses the token just read: no layer has worked on it yet.")
        with gr.Row():
            lens_positions = gr.Slider(1, 16, value=8, step=1, label="Positions (ending at the selected step)",
                                       elem_id="text-lens-positions")
            lens_btn = gr.Button("Show the lens", elem_id="text-lens")
        lens_plot = gr.Plot(label="Layer × position: top guess and its probability", elem_id="text-lens-plot")
        lens_table = gr.Dataframe(headers=["layer", "rank of the target", "1st", "2nd", "3rd", "4th", "5th"],
                                  interactive=False, label="At the last position: each layer's top 5 candidates",
                                  elem_id="text-lens-table")
        lens_note = gr.Markdown(elem_id="text-lens-note")
    with gr.Accordion("Score any text: how surprising is each token to the model (GLTR)", open=False):
        gr.Markdown("Paste a passage; each token is coloured by its rank among the model's predictions at its place. "
                    "Put a human-written passage (A) beside a generated one (B) and compare the colours, the "
                    "histogram and the perplexity.")
        with gr.Row():
            score_a = gr.Textbox(value=HUMAN_PASSAGE, lines=6, label="Passage A", elem_id="text-score-a")
            score_b = gr.Textbox(value="", lines=6, label="Passage B (optional)", elem_id="text-score-b")
        with gr.Row():
            use_last = gr.Button("Use the last generation as B", elem_id="text-score-use-last")
            score_btn = gr.Button("Score", variant="primary", elem_id="text-score")
        with gr.Row():
            score_view_a = gr.HTML(elem_id="text-score-view-a", **html)
            score_view_b = gr.HTML(elem_id="text-score-view-b", **html)
        score_plot = gr.Plot(label="Ranks: share of tokens per bucket", elem_id="text-score-plot")
        score_note = gr.Markdown(elem_id="text-score-note")
    with gr.Accordion("Tokenizer: how the prompt splits into tokens", open=False):
        tok_btn = gr.Button("Tokenize the prompt", elem_id="text-tokenize")
        tok_pieces = gr.HighlightedText(label="Pieces (adjacent tokens alternate colours; · = a byte of the next "
                                              "character)", color_map={"a": "#c7d2fe", "b": "#fde68a", "byte": "#e5e7eb"},
                                        show_legend=False, show_inline_category=False, combine_adjacent=False,
                                        elem_id="text-tok-pieces")
        tok_table = gr.Dataframe(headers=["#", "id", "vocabulary entry", "text"], interactive=False, wrap=True,
                                 elem_id="text-tok-table")
        tok_note = gr.Markdown(elem_id="text-tok-note")

    att_btn.click(wired(text_attention, ctx, gpu=True), [model, run_state, step, att_layer, att_head],
                  [att_plot, att_view, att_note], api_name="text_attention", concurrency_id=HEAVY)
    lens_btn.click(wired(text_lens, ctx, gpu=True), [model, run_state, step, lens_positions],
                   [lens_plot, lens_table, lens_note],
                   api_name="text_lens", concurrency_id=HEAVY)
    score_btn.click(wired(text_score, ctx, gpu=True, replay=True), [model, score_a, score_b],
                    [score_view_a, score_view_b, score_plot, score_note], api_name="text_score", concurrency_id=HEAVY)
    use_last.click(wired(last_generation, ctx), run_state, score_b, api_visibility="private")
    tok_btn.click(wired(text_tokenize, ctx), [model, prompt], [tok_pieces, tok_table, tok_note],
                  api_name="text_tokenize")
