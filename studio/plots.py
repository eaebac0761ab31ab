"""Figure builders: object-oriented matplotlib (``Figure``, never ``pyplot`` state), so handlers can run in
parallel threads and return CPU objects."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

CHOSEN = "#d62728"
BAR = "#4c72b0"
MUTED = "#c7c7c7"
RESHAPING = {"temperature", "repetition penalty"}  # change probabilities without removing tokens


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
        if k == 0:
            kept = ""
        elif stage["name"] in RESHAPING:
            kept = "\nreshapes the distribution"
        else:
            kept = f"\nkept {stage['kept_mass']:.0%} of the mass, {stage['n_kept']} tokens"
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


def image_grid(images, nrow: int, *, pad: int = 2, scale: int = 1, pad_value: float = 1.0):
    """Tile a batch (N, C, H, W) with values in [0, 1] into one PIL image, row by row."""
    import numpy as np
    from PIL import Image

    x = images.detach().float().clamp(0, 1).cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    n, c, h, w = x.shape
    ncol = nrow
    nrows = (n + ncol - 1) // ncol
    canvas = np.full((c, nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, ncol)
        canvas[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = x[i]
    arr = (canvas.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr[..., 0] if c == 1 else arr, mode="L" if c == 1 else "RGB")
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def to_pil(image, *, scale: int = 1):
    """One image (C, H, W) in [0, 1] -> PIL (nearest-neighbour upscaling keeps pixels crisp on a projector)."""
    return image_grid(image[None], 1, pad=0, scale=scale)


def write_gif(frames, path, *, duration_ms: int = 80, loop: int = 0) -> str:
    """Save PIL frames as an animated GIF that loops forever (``loop=0``)."""
    frames = list(frames)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=loop, optimize=False)
    return str(path)


def loss_curves(history: list[dict], keys: list[tuple[str, str]], *, title: str = "", xlabel: str = "step") -> Figure:
    """Training curves from a list of log rows: ``keys`` are (field, label) pairs."""
    fig = Figure(figsize=(7, 3), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for field_name, label in keys:
        pts = [(r["step"], r[field_name]) for r in history if r.get(field_name) is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
