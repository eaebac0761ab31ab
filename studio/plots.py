"""Figure builders: object-oriented matplotlib (``Figure``, never ``pyplot`` state), so handlers can run in
parallel threads and return CPU objects."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

CHOSEN = "#d62728"
BAR = "#4c72b0"
MUTED = "#c7c7c7"


def show_token(text: str) -> str:
    """Make whitespace visible in token labels: ' the' -> '␣the', '\\n' -> '↵'."""
    return repr(text)[1:-1].replace(" ", "␣").replace("\\n", "↵") or "∅"


def stage_bars(stages: list, texts: dict, chosen_id: int, *, title: str = "") -> Figure:
    """One horizontal bar chart per shaping stage, raw first: the top candidates and their probabilities, the
    chosen token in red, the mass the stage kept in the panel title.

    Args:
        stages (`list[dict]`): ``{"name", "top": [(id, p)], "chosen_prob", "kept_mass", "n_kept"}`` per stage.
        texts (`dict[int, str]`): token id -> token text.
        chosen_id (`int`): the token that was picked.
    """
    n = len(stages)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 2.9 * rows), layout="constrained")
    for k, stage in enumerate(stages):
        ax = fig.add_subplot(rows, cols, k + 1)
        top = list(stage["top"])[:10]
        if chosen_id not in [i for i, _ in top]:
            top.append((chosen_id, stage["chosen_prob"]))  # always show the chosen token
        ids = [i for i, _ in top][::-1]
        probs = [p for _, p in top][::-1]
        colors = [CHOSEN if i == chosen_id else (BAR if p > 0 else MUTED) for i, p in zip(ids, probs)]
        ax.barh(range(len(ids)), probs, color=colors)
        ax.set_yticks(range(len(ids)), [show_token(texts.get(i, str(i))) for i in ids], fontsize=8)
        ax.set_xlim(0, max(max(probs) * 1.15, 0.05))
        kept = "" if k == 0 else f"\nkept {stage['kept_mass']:.0%} of the mass, {stage['n_kept']} tokens"
        ax.set_title(f"{k + 1}. {stage['name']}{kept}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def entropy_chart(steps: list, texts: list[str]) -> Figure:
    """Per-token surprisal (−ln p of the chosen token under the model) and entropy of the model's distribution."""
    fig = Figure(figsize=(9, 2.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(steps)))
    ax.bar(x, [s["surprisal"] for s in steps], color=BAR, alpha=0.75, label="surprisal −ln p(token) (nats)")
    ax.plot(x, [s["entropy"] for s in steps], color=CHOSEN, marker=".", label="entropy of the distribution (nats)")
    if len(steps) <= 40:
        ax.set_xticks(x, [show_token(t) for t in texts], rotation=90, fontsize=7)
    else:
        ax.set_xlabel("generated token")
    ax.set_ylabel("nats")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def sample_histogram(result: dict) -> Figure:
    """Predicted probabilities (bars) and the share of N draws (dots) for the top candidates."""
    fig = Figure(figsize=(8, 2.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    labels = [show_token(t) for t in result["tokens"]] + ["(other)"]
    pred = result["predicted"] + [result["other_predicted"]]
    obs = result["observed"] + [result["other_observed"]]
    x = range(len(labels))
    ax.bar(x, pred, color=BAR, alpha=0.6, label="predicted probability")
    ax.scatter(x, obs, color=CHOSEN, zorder=3, label=f"share of {result['n']} draws")
    ax.set_xticks(list(x), labels, rotation=45, fontsize=8)
    ax.set_ylabel("probability")
    ax.legend(fontsize=8)
    return fig
