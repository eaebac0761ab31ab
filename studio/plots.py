"""Figure builders: object-oriented matplotlib (``Figure``, never ``pyplot`` state), so handlers can run in
parallel threads and return CPU objects.

Text drawn in a plot is marked with ``T_``: it comes out in the page's language when a font for it is
installed (``studio.i18n.cjk_font``), else in English. Where such a font exists, every text in a figure that holds
characters the default font lacks (Chinese labels, a Hub model's Chinese tokens) gets it as a glyph-by-glyph
fallback when the figure is drawn (:func:`new_figure`), so they draw as characters, not boxes, in either language.
"""

from __future__ import annotations

import functools
import math

from matplotlib.figure import Figure

from studio.i18n import N_, T_, cjk_font

CHOSEN = "#d62728"
BAR = "#4c72b0"
MUTED = "#c7c7c7"
RESHAPING = {"temperature", "repetition penalty", "DRY"}  # change probabilities without removing tokens
# the shaping stages' names as the Text engine gives them, marked for the catalog (drawn through T_)
STAGE_NAMES = (N_("raw"), N_("repetition penalty"), N_("no-repeat n-gram"), N_("temperature"), N_("top-k"),
               N_("top-p"), N_("min-p"), N_("typical-p"), N_("DRY"), N_("top-nσ"), N_("epsilon"), N_("eta"),
               N_("XTC"))


@functools.cache
def _default_font() -> tuple[str, frozenset[int]]:
    """The default font's name and the code points it has glyphs for."""
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties())
    return (font_manager.FontProperties(fname=path).get_name(),
            frozenset(font_manager.get_font(path).get_charmap()))


def use_fallback_font(fig: Figure) -> None:
    """Give each text in ``fig`` that holds a character the default font lacks the installed Chinese font as
    a fallback behind the default one (matplotlib falls back glyph by glyph).

    Only those texts: matplotlib keeps the fonts it opens per thread (up to 64), and Gradio answers from a pool
    of threads that comes and goes, so a fallback set for every text (``rcParams``) opened the Chinese font,
    ~2 MB, in each new thread, for English pages too (benchmarks/load.py's memory growth)."""
    cjk = cjk_font()
    if cjk is None:
        return
    from matplotlib.text import Text

    name, chars = _default_font()
    for text in fig.findobj(Text):
        if any(ord(c) not in chars for c in text.get_text() if c > "~"):
            text.set_fontfamily([name, cjk])


class _DrawWithFallback:
    """``Figure.draw`` after :func:`use_fallback_font`. An object holding its figure, not a closure, so a figure
    pickles and deep-copies whole (the copy's ``draw`` draws the copy): the replay cache (studio/ui/replay.py)
    keeps results pickled and hands each user their own copy."""

    def __init__(self, fig: Figure):
        self.fig = fig

    def __call__(self, renderer):
        use_fallback_font(self.fig)
        return Figure.draw(self.fig, renderer)


def new_figure(**kwargs) -> Figure:
    """A matplotlib ``Figure`` that runs :func:`use_fallback_font` each time it is drawn, so labels and legends
    added after a builder returns are covered too. (Its ``draw`` is replaced on the instance rather than in a
    subclass: Gradio's ``Plot`` recognises matplotlib figures by their class's module.)"""
    fig = Figure(**kwargs)
    fig.draw = _DrawWithFallback(fig)
    return fig


def show_token(text: str) -> str:
    """Make whitespace visible in token labels: ' the' -> '␣the', '\\n' -> '↵'."""
    return repr(text)[1:-1].replace(" ", "␣").replace("\\n", "↵") or "∅"


def label_width_in(text: str, size_pt: float) -> float:
    """A generous estimate of how wide ``text`` draws, in inches: 0.62 em a character, 1 em a wide (CJK) one."""
    import unicodedata

    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")
    return (0.62 * (len(text) - wide) + wide) * size_pt / 72


def wrap_to(text: str, width_in: float, size_pt: float) -> str:
    """``text`` with each line broken at spaces so that it draws within ``width_in`` inches (label_width_in)."""
    import textwrap

    lines = []
    for line in text.split("\n"):
        chars = max(8, int(width_in / label_width_in("x", size_pt)))
        while label_width_in(line, size_pt) > width_in and chars > 8:
            wrapped = textwrap.wrap(line, chars)
            if all(label_width_in(w, size_pt) <= width_in for w in wrapped):
                break
            chars -= 2
        lines += textwrap.wrap(line, chars) if label_width_in(line, size_pt) > width_in else [line]
    return "\n".join(lines)


def stage_bars(stages: list, texts: dict, chosen_id: int, *, title: str = "") -> Figure:
    """One horizontal bar chart per shaping stage, raw first: the top candidates and their probabilities, the
    chosen token in red, the mass the stage kept in the panel title.

    Laid out by hand (margins from the longest label), not by matplotlib's constrained layout: this chart is
    drawn for every generation, and measuring every label's extent was a third of its time (0.22 → 0.14 s on
    2 CPU cores, benchmarks/classroom.py's profile).

    Args:
        stages (`list[dict]`): ``{"name", "top": [(id, p)], "chosen_prob", "kept_mass", "n_kept"}`` per stage.
        texts (`dict[int, str]`): token id -> token text.
        chosen_id (`int`): the token that was picked.
    """
    n = len(stages)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    width, height = 3.2 * cols, 2.9 * rows
    fig = new_figure(figsize=(width, height))
    panels = []
    for k, stage in enumerate(stages):
        top = list(stage["top"])[:10]
        if chosen_id not in [i for i, _ in top]:
            top.append((chosen_id, stage["chosen_prob"]))  # always show the chosen token
        ids = [i for i, _ in top][::-1]
        probs = [p for _, p in top][::-1]
        if k == 0:
            kept = ""
        elif stage["name"] in RESHAPING:
            kept = "\n" + T_("reshapes the distribution")
        else:
            before = stages[k - 1]["n_kept"]
            removed = before - stage["n_kept"]
            kept = "\n" + (T_(f"removed {removed} of {before} tokens, {1 - stage['kept_mass']:.1%} of the mass")
                           if removed else T_("removed nothing"))
        labels = [show_token(texts.get(i, str(i))) for i in ids]
        panels.append((ids, probs, labels, f"{k + 1}. {T_(stage['name'])}{kept}"))
    # margins, in inches: the longest token label on the left of each panel, the panel titles above it (wrapped
    # to the panel's width)
    label_in = max(label_width_in(t, 8) for _, _, labels, _ in panels for t in labels) + 0.12
    left, right, bottom = label_in + 0.05, 0.15, 0.3
    gap_w = label_in + 0.2
    ax_w = (width - left - right - (cols - 1) * gap_w) / cols
    panels = [(*p[:3], wrap_to(p[3], ax_w + label_in, 9)) for p in panels]
    title_in = 0.16 * max(p[3].count("\n") + 1 for p in panels) + 0.1
    top = title_in + (0.3 if title else 0.05)
    gap_h = title_in + bottom
    ax_h = (height - top - bottom - (rows - 1) * gap_h) / rows
    grid = fig.add_gridspec(rows, cols, left=left / width, right=1 - right / width, bottom=bottom / height,
                            top=1 - top / height, wspace=gap_w / max(ax_w, 0.1), hspace=gap_h / max(ax_h, 0.1))
    for k, (ids, probs, labels, panel_title) in enumerate(panels):
        ax = fig.add_subplot(grid[k // cols, k % cols])
        colors = [CHOSEN if i == chosen_id else (BAR if p > 0 else MUTED) for i, p in zip(ids, probs)]
        ax.barh(range(len(ids)), probs, color=colors)
        ax.set_yticks(range(len(ids)), labels, fontsize=8)
        ax.set_xlim(0, max(max(probs) * 1.15, 0.05))
        ax.set_title(panel_title, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.06 / height)
    return fig


def bars(ax, x, heights, *, width: float = 0.8, **style):
    """``ax.bar(x, heights)`` as one collection: ``bar`` makes one patch per bar, and for the 120 to 400 bars of
    a generation adding and drawing those patches was most of the chart's time (benchmarks/classroom.py's
    profile). Looks the same; the label goes to the legend as a patch."""
    import numpy as np
    from matplotlib.collections import PolyCollection

    x, h = np.asarray(x, dtype=float), np.asarray(heights, dtype=float)
    lo, hi = x - width / 2, x + width / 2
    verts = np.stack([np.stack([lo, np.zeros_like(h)], -1), np.stack([lo, h], -1), np.stack([hi, h], -1),
                      np.stack([hi, np.zeros_like(h)], -1)], axis=1)  # (N, 4, 2): each bar's corners
    collection = PolyCollection(verts, facecolors=style.pop("color", BAR), edgecolors="none", **style)
    collection.sticky_edges.y.append(0.0)  # the axis starts at 0, as it does for ax.bar
    ax.add_collection(collection)
    if len(x):
        ax.update_datalim([(lo.min(), min(0.0, h.min())), (hi.max(), max(0.0, h.max()))])
    ax.autoscale_view()
    return collection


def entropy_chart(steps: list, texts: list[str]) -> Figure:
    """Per-token surprisal (−ln p of the chosen token under the model) and entropy of the model's distribution."""
    fig = new_figure(figsize=(9, 2.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(steps)))
    bars(ax, x, [s["surprisal"] for s in steps], color=BAR, alpha=0.75, label=T_("surprisal −ln p(token) (nats)"))
    ax.plot(x, [s["entropy"] for s in steps], color=CHOSEN, marker=".", label=T_("entropy of the distribution (nats)"))
    if len(steps) <= 40:
        ax.set_xticks(x, [show_token(t) for t in texts], rotation=90, fontsize=7)
    else:
        ax.set_xlabel(T_("generated token"))
    ax.set_ylabel(T_("nats"))
    ax.legend(fontsize=8, loc="upper right")
    return fig


def sample_histogram(result: dict) -> Figure:
    """Predicted probabilities (bars) and the share of N draws (dots) for the top candidates."""
    fig = new_figure(figsize=(8, 2.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    labels = [show_token(t) for t in result["tokens"]] + [T_("(other)")]
    pred = result["predicted"] + [result["other_predicted"]]
    obs = result["observed"] + [result["other_observed"]]
    x = range(len(labels))
    ax.bar(x, pred, color=BAR, alpha=0.6, label=T_("predicted probability"))
    ax.scatter(x, obs, color=CHOSEN, zorder=3, label=T_(f"share of {result['n']} draws"))
    ax.set_xticks(list(x), labels, rotation=45, fontsize=8)
    ax.set_ylabel(T_("probability"))
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


def loss_curves(history: list[dict], keys: list[tuple[str, str]], *, title: str = "", xlabel: str | None = None) -> Figure:
    """Training curves from a list of log rows: ``keys`` are (field, label) pairs."""
    fig = new_figure(figsize=(7, 3), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for field_name, label in keys:
        pts = [(r["step"], r[field_name]) for r in history if r.get(field_name) is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label)
    ax.set_xlabel(T_("step") if xlabel is None else xlabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


DIGIT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                "#17becf"]


def figure_to_image(fig: Figure):
    """Render a Figure to a PIL image (Agg, no pyplot), straight from the canvas's pixels: going through a
    PNG file (encode, then decode) was two fifths of the VAE latent map's time (benchmarks/tab_paths.py)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy(), mode="RGB")


def latent_map_image(manifold, axis: list, heldout_z, labels, *, path_z=None, marker_z=None, scatter: bool = True):
    """The 2-D latent map as a PIL image plus the geometry that turns a click back into z.

    The decoded manifold fills the axes in grid-index units (so Gaussian-quantile spacing is drawn evenly, as
    equal prior mass); held-out encodings, the interpolation path and a marker are placed by interpolating their
    z into the same units. Returns (image, geometry dict with the axes' pixel box and the axis values).
    """
    import numpy as np

    n = len(axis)
    mosaic = image_grid(manifold, n, pad=0)  # PIL, n*tile square, row 0 = top = largest z2
    axis_np = np.asarray(axis, dtype=np.float64)

    def to_idx(z):  # z (M, 2) -> fractional grid coordinates (x across, y down)
        z = np.asarray(z, dtype=np.float64)
        gx = np.interp(z[:, 0], axis_np, np.arange(n), left=-0.5, right=n - 0.5)
        gy = np.interp(z[:, 1], axis_np, np.arange(n), left=-0.5, right=n - 0.5)
        return gx, (n - 1) - gy

    fig = new_figure(figsize=(7.5, 7.5), dpi=100)
    ax = fig.add_axes((0.1, 0.08, 0.86, 0.86))
    ax.imshow(np.asarray(mosaic), cmap="gray", extent=(-0.5, n - 0.5, n - 0.5, -0.5), interpolation="nearest")
    if scatter and heldout_z is not None:
        gx, gy = to_idx(heldout_z)
        ax.scatter(gx, gy, c=[DIGIT_COLORS[int(k)] for k in labels], s=6, alpha=0.55, linewidths=0)
        for d in range(10):
            ax.scatter([], [], c=DIGIT_COLORS[d], s=20, label=str(d))
        ax.legend(loc="upper right", fontsize=7, ncol=5, framealpha=0.8, title=T_("held-out digits"), title_fontsize=7)
    if path_z is not None:
        gx, gy = to_idx(path_z)
        ax.plot(gx, gy, "-o", color="#ffdd00", markersize=3, linewidth=2, label=T_("path"))
    if marker_z is not None:
        gx, gy = to_idx(marker_z)
        ax.scatter(gx, gy, marker="x", s=120, color="#ff2222", linewidths=3)
    ticks = list(range(0, n, max(1, n // 6)))
    ax.set_xticks(ticks, [f"{axis[i]:.2f}" for i in ticks], fontsize=7)
    ax.set_yticks(ticks, [f"{axis[n - 1 - i]:.2f}" for i in ticks], fontsize=7)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("z₁", fontsize=9)
    ax.set_ylabel("z₂", fontsize=9)
    img = figure_to_image(fig)
    x0, y0, x1, y1 = ax.get_window_extent().extents  # display pixels, origin bottom-left
    h = img.height
    return img, {"box": [x0, h - y1, x1, h - y0], "axis": list(map(float, axis)), "n": n}


def click_to_z(geometry: dict, x: float, y: float):
    """A click at image pixel (x, y) on ``latent_map_image`` -> z (2,) or None outside the map."""
    import numpy as np

    x0, y0, x1, y1 = geometry["box"]
    n = geometry["n"]
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return None
    gx = (x - x0) / (x1 - x0) * n - 0.5
    gy = (y - y0) / (y1 - y0) * n - 0.5
    axis = np.asarray(geometry["axis"])
    z1 = float(np.interp(gx, np.arange(n), axis))
    z2 = float(np.interp((n - 1) - gy, np.arange(n), axis))
    return [z1, z2]


def norm_plot(t: list, series: dict, sqrt_d: float) -> Figure:
    """‖z‖ along interpolation paths against the prior's typical radius √d."""
    fig = new_figure(figsize=(6, 2.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for label, norms in series.items():
        ax.plot(t, norms, marker=".", label=label)
    ax.axhline(sqrt_d, color="gray", linestyle="--", label=T_(f"√d = {sqrt_d:.2f} (where prior samples live)"))
    ax.set_xlabel(T_("t along the path"))
    ax.set_ylabel("‖z‖")
    ax.legend(fontsize=8)
    return fig


def schedule_plot(curve: dict, timesteps: list[float] | None = None, current: int | None = None) -> Figure:
    """The noise schedule: ᾱ_t (left axis) and log-SNR = log(ᾱ_t / (1 − ᾱ_t)) (right axis) against t, with the
    run's timesteps as dots and the current one (index into ``timesteps``) ringed in red."""
    import numpy as np

    fig = new_figure(figsize=(6, 2.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    t = np.asarray(curve["t"])
    ab = np.asarray(curve["alpha_bar"])
    ax.plot(t, ab, color="#1f77b4", label=T_("ᾱ_t (share of the signal's variance left)"))
    ax.set_xlabel(T_("t (noise level; T−1 = pure noise)"))
    ax.set_ylabel("ᾱ_t", color="#1f77b4")
    ax.set_ylim(-0.02, 1.02)
    ax2 = ax.twinx()
    ax2.plot(t, curve["log_snr"], color="#ff7f0e", linestyle="--", label=T_("log-SNR"))
    ax2.set_ylabel(T_("log SNR"), color="#ff7f0e")
    if timesteps:
        ts = np.asarray(timesteps)
        abt = np.interp(ts, t, ab)
        ax.scatter(ts, abt, s=10, color="#1f77b4", zorder=3)
        if current is not None and 0 <= current < len(ts):
            ax.scatter([ts[current]], [abt[current]], s=90, facecolors="none", edgecolors="red", linewidths=2, zorder=4)
            ax.set_title(T_(f"step {current + 1} of {len(ts)}: t = {ts[current]:.0f}, ᾱ_t = {abt[current]:.3f}"),
                         fontsize=10)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="center right")
    return fig
