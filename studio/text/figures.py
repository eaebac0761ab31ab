"""The inside-the-model figures of the Text tab: attention maps per layer, the logit lens grid, GLTR's rank
histogram. Built from the plain data of ``studio.text.inside`` and ``studio.text.score``."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from studio.i18n import T_
from studio.plots import new_figure, show_token


def attention_maps(att: dict, *, layer: int | None = None, head: int | None = None, max_labels: int = 48) -> Figure:
    """One heads × context heat map per layer: the weight each head of that layer gives each context token, from
    the query at the end of the context. ``layer``, ``head`` (0-based): outline that head's row; labels count
    from 1, as the tab does."""
    L, H, T = att["layers"], att["heads"], len(att["tokens"])
    cols = min(L, 2)
    rows = math.ceil(L / cols)
    width = min(16.0, max(7.0, 0.22 * T * cols + 2))
    fig = new_figure(figsize=(width, 0.32 * H * rows + 1.2 * rows + 0.6), layout="constrained")
    labels = [show_token(t) for t in att["tokens"]]
    for k in range(L):
        ax = fig.add_subplot(rows, cols, k + 1)
        image = ax.imshow(att["weights"][k], aspect="auto", cmap="Reds", vmin=0.0, interpolation="nearest")
        ax.set_yticks(range(H), [str(h + 1) for h in range(H)], fontsize=7)
        # the layer on the left, not above: Gradio's plot label covers the figure's top-left corner
        ax.set_ylabel(T_(f"layer {k + 1}") + "\n" + T_("head"), fontsize=8)
        if T <= max_labels:
            ax.set_xticks(range(T), labels, rotation=90, fontsize=7)
        else:
            ax.set_xlabel(T_("context position"), fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
        if head is not None and k == layer:
            ax.add_patch(_row_box(ax, head, T))
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    fig.suptitle(T_("attention from the last context token (the one that predicts the selected token)"), fontsize=10)
    return fig


def _row_box(ax, row: int, width: int):
    from matplotlib.patches import Rectangle

    return Rectangle((-0.5, row - 0.5), width, 1, fill=False, edgecolor="#1f77b4", linewidth=1.6)


def lens_grid(lens: dict) -> Figure:
    """Layer × position: each cell the layer's top prediction for the next token, coloured by the rank that layer
    gives the token that actually came next (dark = rank 1)."""
    layers, tokens = lens["layers"], lens["tokens"]
    n = len(tokens)
    fig = new_figure(figsize=(min(18.0, 1.25 * n + 2.5), 0.5 * len(layers) + 1.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    score = [[1.0 / r for r in row] for row in lens["rank"]]  # 1 = top choice
    ax.imshow(score, aspect="auto", cmap="Greens", vmin=0.0, vmax=1.0, origin="lower", interpolation="nearest")
    for i, row in enumerate(lens["top"]):
        for j, cands in enumerate(row):
            text, p = cands[0]
            ax.text(j, i, f"{show_token(text)}\n{p:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if score[i][j] > 0.6 else "black")
    ax.set_yticks(range(len(layers)), [T_(name) for name in layers], fontsize=8)
    xlabels = [f"{show_token(t)}\n→ {show_token(nxt)}" for t, nxt in zip(tokens, lens["target_texts"])]
    ax.set_xticks(range(n), xlabels, fontsize=7)
    ax.set_xlabel(T_("position: the token read → the token that came next"), fontsize=8)
    ax.set_title(T_("logit lens: each layer's top guess for the next token (green = the token that came next "
                    "ranks high)"), fontsize=9)
    return fig


def rank_histogram(scores: list[tuple[str, dict]]) -> Figure:
    """GLTR's histogram: the share of tokens in each rank bucket, one bar group per scored passage."""
    from studio.text.score import BUCKETS

    names = [name for _, name in BUCKETS]
    colours = ["#4caf50", "#f2c12e", "#e05252", "#9b6ad6"]
    fig = new_figure(figsize=(7, 2.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(scores))
    for k, (label, s) in enumerate(scores):
        total = max(1, s["scored"])
        shares = [s["histogram"][name] / total for name in names]
        xs = [b + (k - (len(scores) - 1) / 2) * width for b in range(len(names))]
        bars = ax.bar(xs, shares, width=width * 0.95, color=colours, alpha=1.0 if k == 0 else 0.55,
                      edgecolor="black", linewidth=0.5, label=f"{label} (ppl {s['perplexity']:.1f})")
        ax.bar_label(bars, [f"{v:.0%}" for v in shares], fontsize=7)
    ax.set_xticks(range(len(names)), [T_(n) for n in names])
    ax.set_ylabel(T_("share of tokens"))
    ax.set_ylim(0, 1.1)
    if len(scores) > 1 or scores[0][0]:
        ax.legend(fontsize=8)
    return fig
