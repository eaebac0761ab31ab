"""Text as it reads, coloured token by token: the HTML the Text tab shows (no Gradio here, plain strings).

The model's own spacing and line breaks are kept (``white-space: pre-wrap``; a newline token shows a faint ↵ and
breaks the line). Each generated token is a span carrying its step (``data-step``), so a click selects that step.
Three colourings, each with its legend: the generated text by the probability of each token, a scored passage by
its GLTR rank bucket, and one attention head's weights over the context.
"""

from __future__ import annotations

import html

from studio.i18n import N_, translate

CSS = """
.studio-reading { white-space: pre-wrap; word-break: break-word; line-height: 1.9; font-size: 1.02rem;
  font-family: var(--font-mono, ui-monospace, monospace); padding: 0.6rem 0.8rem; border: 1px solid
  var(--border-color-primary, #ddd); border-radius: 6px; max-height: 28rem; overflow-y: auto; }
.studio-reading .p { color: var(--body-text-color-subdued, #666); }
.studio-reading .t { border-radius: 3px; cursor: pointer; }
.studio-reading .t:hover { outline: 1px solid #555; }
.studio-reading .sel { outline: 2px solid #d62728; }
.studio-reading .nl { color: #999; font-size: 0.8em; }
.studio-legend { display: flex; gap: 0.8rem; flex-wrap: wrap; align-items: center; font-size: 0.85rem;
  margin: 0.3rem 0; }
.studio-legend .sw { display: inline-block; width: 1.6em; height: 1em; border-radius: 3px; vertical-align: -0.15em;
  margin-right: 0.25em; border: 1px solid #bbb; }
"""

# The probability colour scale: five steps of one hue, light = unlikely, dark = likely (readable on a projector).
PROB_STEPS = ((0.1, "#eef3fb"), (0.3, "#cfdcf2"), (0.6, "#a6bfe8"), (0.9, "#7ea1dc"), (1.01, "#5b86cf"))
# GLTR's colours: green top 10, yellow top 100, red top 1000, violet beyond.
GLTR_COLOURS = {"top 10": "#b6f0b6", "top 100": "#fbe8a0", "top 1000": "#f7b4b4", "beyond": "#d9c2f5"}
GLTR_NAMES = (N_("top 10"), N_("top 100"), N_("top 1000"), N_("beyond"))


def piece(text: str) -> str:
    """One token's text, escaped, a newline shown as a faint ↵ before the break."""
    return html.escape(text).replace("\n", '<span class="nl">↵</span>\n')


def prob_colour(p: float) -> str:
    return next(c for limit, c in PROB_STEPS if p < limit)


def legend(items: list[tuple[str, str]], title: str) -> str:
    swatches = "".join(f'<span><span class="sw" style="background:{c}"></span>{html.escape(t)}</span>'
                       for c, t in items)
    return f'<div class="studio-legend"><b>{html.escape(title)}</b>{swatches}</div>'


def prob_legend() -> str:
    bounds = [0.0] + [limit for limit, _ in PROB_STEPS[:-1]] + [1.0]
    items = [(c, f"{lo:.1f}–{hi:.1f}") for (_, c), lo, hi in zip(PROB_STEPS, bounds, bounds[1:])]
    return legend(items, translate(N_("Colour = the probability p the sampler gave each generated token (raw = the "
                                      "model's own, before the sampler shaped it):")))


def reading(run, selected: int | None = None, *, clickable: bool = True) -> str:
    """The prompt, then every generated token coloured by its probability (click: select its step; ``clickable``
    False, as in the Compare columns: no step to select). ``run``: a run's dict or the ``TextRun`` being streamed."""
    if run is None:
        return ""
    if isinstance(run, dict):
        prompt, steps = run["prompt"], [(s.get("shown"), s["token"], s["prob"], s["raw_prob"]) for s in run["steps"]]
    else:
        prompt, steps = run.prompt, [(s.shown, s.token, s.prob, s.raw_prob) for s in run.steps]
    out = [prob_legend(), '<div class="studio-reading">', f'<span class="p">{piece(prompt)}</span>']
    for i, (shown, token, p, raw) in enumerate(steps):
        text = token if shown is None else shown
        if text == "":
            text = "·"  # the first bytes of a character the next token completes
        cls = "t sel" if i == selected else "t"
        title = f"#{i} {token!r} · p = {p:.3f} · raw {raw:.3f}"  # no words: the same on every page, no lookups
        step = f'data-step="{i}" ' if clickable else ""
        cursor = "" if clickable else ";cursor:default"
        out.append(f'<span class="{cls}" {step}style="background:{prob_colour(p)}{cursor}" '
                   f'title="{html.escape(title)}">{piece(text)}</span>')
    out.append("</div>")
    return "".join(out)


def gltr(scored: dict) -> str:
    """A scored passage, each token coloured by its rank bucket, its rank and surprisal in the tooltip."""
    items = [(GLTR_COLOURS[name], translate(name)) for name in GLTR_COLOURS]
    words = translate(N_("rank")), translate(N_("top choice"))  # looked up once, not per token
    out = [legend(items, translate(N_("Colour = the token's rank among the model's predictions there "
                                      "(hover: rank, probability, surprisal −ln p in nats, the model's top choice):"))),
           '<div class="studio-reading">']
    for t in scored["tokens"]:
        text = t["text"] or "·"
        if t["rank"] is None:
            out.append(f'<span class="p">{piece(text)}</span>')
            continue
        title = f"{words[0]} {t['rank']} · p = {t['prob']:.4f} · −ln p = {t['surprisal']:.2f} · {words[1]} {t['top']!r}"
        out.append(f'<span class="t" style="background:{GLTR_COLOURS[t["bucket"]]}" '
                   f'title="{html.escape(title)}">{piece(text)}</span>')
    out.append("</div>")
    return "".join(out)


def head_view(tokens: list[str], weights: list[float], query: int) -> str:
    """One head's attention from the query token (outlined) over the context: the darker, the more weight."""
    top = max(weights) if weights else 1.0
    out = [legend([("rgba(214,39,40,0.15)", translate(N_("little"))), ("rgba(214,39,40,0.85)", translate(N_("the most this head gives")))],
                  translate(N_("Colour = the weight this head puts on each token:"))), '<div class="studio-reading">']
    for i, (text, w) in enumerate(zip(tokens, weights)):
        alpha = 0.85 * w / top if top > 0 else 0.0
        cls = "t sel" if i == query else "t"
        out.append(f'<span class="{cls}" style="background:rgba(214,39,40,{alpha:.3f})" '
                   f'title="{w:.3f}">{piece(text or "·")}</span>')
    out.append("</div>")
    return "".join(out)


# The click on a token: the step it carries goes to the server (gr.HTML's js_on_load; trigger is Gradio's).
CLICK_JS = ("element.addEventListener('click', (e) => { const t = e.target.closest('[data-step]'); "
            "if (t) { trigger('click', {step: Number(t.dataset.step)}); } });")
