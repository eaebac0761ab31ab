"""What keeps a served stream light: previews paced by the clock (studio.ui.common.Pace), plots drawn once into
Gradio's plot data (plot_of), the entropy chart's bars as one collection (studio.plots.bars), and the Diffusion
tab's schedule picture drawn once per model, timesteps, step and language."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from studio import plots
from studio.ui import common


def test_pace_lets_the_first_preview_through_then_one_per_interval(monkeypatch):
    clock = iter([0.0, 0.04, 0.09, 0.10, 0.15, 0.21, 0.25])
    monkeypatch.setattr(common.time, "monotonic", lambda: next(clock))
    pace = common.Pace(0.1)
    assert [pace.due() for _ in range(7)] == [True, False, False, True, False, True, False]


def test_plot_of_is_the_figure_drawn_once_as_a_png_in_gradios_plot_data():
    steps = [{"surprisal": s, "entropy": e} for s, e in [(1.0, 2.0), (0.5, 1.5), (2.5, 0.5)]]
    fig = plots.entropy_chart(steps, ["a", "b", "c"])
    data = common.plot_of(fig)
    assert data.type == "matplotlib" and data.plot.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(data.plot.split(",", 1)[1])))
    assert np.array_equal(np.asarray(png.convert("RGB")), np.asarray(plots.figure_to_image(fig)))
    assert common.plot_of(None) is None


def test_bars_are_the_heights_asked_from_zero_with_their_label():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot(1, 1, 1)
    heights = [0.5, 2.0, 0.0, 1.25]
    collection = plots.bars(ax, range(4), heights, width=0.8, color="#4c72b0", label="surprisal")
    tops = [path.vertices[:, 1].max() for path in collection.get_paths()]
    centres = [(path.vertices[:, 0].min() + path.vertices[:, 0].max()) / 2 for path in collection.get_paths()]
    assert tops == pytest.approx(heights) and centres == pytest.approx([0, 1, 2, 3])
    assert all(path.vertices[:, 1].min() == 0 for path in collection.get_paths())
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 2.0  # the axis starts at 0, as ax.bar's does
    assert ax.get_legend_handles_labels()[1] == ["surprisal"]


def test_the_schedule_picture_is_drawn_once_per_step_and_language(monkeypatch):
    from studio import i18n
    from studio.diffusion import views_tab as tab

    drawn = []
    real = tab.schedule_plot
    monkeypatch.setattr(tab, "schedule_plot", lambda *a: drawn.append(a[2]) or real(*a))
    monkeypatch.setattr(tab, "_SCHEDULE_IMAGES", type(tab._SCHEDULE_IMAGES)())
    ab = np.cumprod(np.linspace(0.9999, 0.98, 1000)).tolist()
    run = type("Run", (), {"schedule": {"t": list(range(1000)), "alpha_bar": ab,
                                        "log_snr": np.log(np.array(ab) / (1 - np.array(ab))).tolist()},
                           "timesteps": [999.0, 666.0, 333.0, 0.0]})()
    first = tab.schedule_image(run, 2)
    again = tab.schedule_image(run, 2)
    assert drawn == [2] and np.array_equal(np.asarray(first), np.asarray(again)) and first is not again
    other = tab.schedule_image(run, 3)
    assert drawn == [2, 3] and not np.array_equal(np.asarray(first), np.asarray(other))
    monkeypatch.setattr(i18n, "cjk_font", lambda: "Noto Sans CJK SC")
    with i18n.using("zh-CN"):
        tab.schedule_image(run, 2)  # the plot's language is part of what it depends on
    assert drawn == [2, 3, 2]
