"""The Lab tab (studio/lab/tab.py, live.py): training streamed, paused and resumed, one step by hand, a drawn
target, reproducible under a seed, bad input said."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from studio.lab import live
from studio.lab import tab as lab
from studio.lab.gan import GAN2D
from studio.registry import ModelRegistry


@pytest.fixture(scope="module")
def ctx():
    return lab.LabContext.of(ModelRegistry([], device="cpu"))


def test_play_streams_a_picture_every_n_steps_with_the_veegan_figures(ctx):
    frames = [f for f in lab.lab_train(ctx, steps=60, frame_every=20, batch_size=64, frame_seconds=0)
              if isinstance(f[1], str)]
    assert len(frames) == 3  # (a slow machine may add heartbeats, gr.skip(), between them: not frames)
    image, stats, trainer = frames[-1]
    assert isinstance(trainer, GAN2D) and trainer.steps == 60 and image.size[0] > 300
    assert stats.startswith("**Step 60**") and "modes covered" in stats and "high quality" in stats


def step_of(stats: str) -> int:
    return int(re.match(r"\*\*Step (\d+)\*\*", stats).group(1))


def test_a_picture_comes_by_the_clock_too_and_the_step_pictures_stay_on_their_steps(ctx, monkeypatch):
    """frame_seconds: the first picture at once, then one at least that often between those every frame_every steps;
    the clock's pictures do not shift the step pictures (they stay at multiples of frame_every, comparable between
    runs); 0: steps only."""
    now = [0.0]  # a clock that moves one second at each training step, and only then
    step = GAN2D.step

    def one_second_step(self):
        now[0] += 1.0
        return step(self)

    monkeypatch.setattr(GAN2D, "step", one_second_step)
    monkeypatch.setattr(lab.time, "perf_counter", lambda: now[0])
    frames = [step_of(f[1]) for f in lab.lab_train(ctx, steps=12, frame_every=5, batch_size=16, frame_seconds=2.5)
              if isinstance(f[1], str)]
    assert frames == [0, 3, 5, 8, 10, 12]  # at once, 3 s after, the 5th step, 3 s after it, the 10th, the end
    frames = [step_of(f[1]) for f in lab.lab_train(ctx, steps=12, frame_every=5, batch_size=16, frame_seconds=0)
              if isinstance(f[1], str)]
    assert frames == [5, 10, 12]


def test_the_clock_makes_no_picture_before_the_play_trained_longer_than_pictures_take(ctx, monkeypatch):
    """A picture by the clock only after PICTURE_SHARE (4) times as much training as the last picture took: with
    steps of 1 s and pictures of 2 s, the clock's next picture waits for 8 s of training, not 2.5 s of wall time."""
    now = [0.0]
    step, picture = GAN2D.step, lab.picture

    def one_second_step(self):
        now[0] += 1.0
        return step(self)

    def two_second_picture(*args):
        now[0] += 2.0
        return picture(*args)

    monkeypatch.setattr(GAN2D, "step", one_second_step)
    monkeypatch.setattr(lab, "picture", two_second_picture)
    monkeypatch.setattr(lab.time, "perf_counter", lambda: now[0])
    frames = [step_of(f[1]) for f in lab.lab_train(ctx, steps=12, frame_every=100, batch_size=16, frame_seconds=2.5)
              if isinstance(f[1], str)]
    assert frames == [0, 8, 12]


def test_pause_then_play_goes_on_and_only_a_new_experiment_starts_over(ctx):
    *_, (_, _, trainer) = lab.lab_train(ctx, steps=20, frame_every=20, batch_size=64)
    *_, (_, stats, again) = lab.lab_train(ctx, steps=20, frame_every=20, batch_size=64, lr_d=5e-4, lab=trainer)
    assert again is trainer and again.steps == 40 and "Changed mid-run: lr_d" in stats
    assert again.opt_d.param_groups[0]["lr"] == 5e-4
    *_, (_, stats, other) = lab.lab_train(ctx, steps=20, frame_every=20, batch_size=64, loss="hinge", lab=trainer)
    assert other is not trainer and other.steps == 20 and "A new experiment" in stats


def test_the_same_seed_trains_the_same_model(ctx):
    runs = [list(lab.lab_train(ctx, model_kind="flow matching", steps=30, frame_every=30, batch_size=64, seed=3))[-1][2]
            for _ in range(2)]
    assert torch.equal(runs[0].samples(200), runs[1].samples(200))
    other = list(lab.lab_train(ctx, model_kind="flow matching", steps=30, frame_every=30, batch_size=64, seed=4))[-1][2]
    assert not torch.equal(runs[0].samples(200), other.samples(200))


def test_one_d_step_and_one_g_step_by_hand(ctx):
    _, _, trainer = lab.lab_reset(ctx, batch_size=64)
    assert trainer.steps == 0
    before = [p.clone() for p in trainer.G.parameters()]
    _, stats, trainer = lab.lab_step(ctx, part="D", batch_size=64, lab=trainer)
    assert trainer.steps == 0 and "One discriminator step" in stats
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))  # D's step leaves G alone
    _, stats, trainer = lab.lab_step(ctx, part="G", batch_size=64, lab=trainer)
    assert trainer.steps == 1 and "One generator step" in stats
    assert not all(torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))


def test_a_drawn_distribution_is_the_strokes_of_the_sketch(ctx):
    canvas = Image.new("RGB", (240, 240), "white")
    ImageDraw.Draw(canvas).line([(20, 220), (220, 20)], fill="black", width=6)  # bottom-left to top-right
    points = np.array(live.points_from_drawing(canvas))
    assert 50 <= len(points) <= live.MAX_DRAWN and np.abs(points).max() <= 3
    assert np.corrcoef(points[:, 0], points[:, 1])[0, 1] > 0.95  # a rising line in the plane (y up)
    frames = list(lab.lab_train(ctx, target="drawn", drawing=canvas, steps=10, frame_every=10, batch_size=64))
    assert frames[-1][2].target.name == "drawn" and "modes covered" not in frames[-1][1]
    with pytest.raises(ValueError, match="Draw at least 3 points"):
        list(lab.lab_train(ctx, target="drawn", drawing=Image.new("RGB", (50, 50), "white"), steps=1))


@pytest.mark.parametrize("kwargs, message", [
    ({"loss": "adversarial"}, "loss must be one of minimax, non-saturating, hinge, wgan-gp"),
    ({"steps": 0}, r"steps must be a whole number in \[1, 20000\]"),
    ({"frame_seconds": -1}, r"frame_seconds must be"),
    ({"lr_g": 5.0}, "lr_g must be between"),
    ({"target": "circle"}, "target must be one of"),
    ({"model_kind": "VAE"}, "model must be one of GAN, flow matching"),
])
def test_bad_settings_get_a_clear_message(ctx, kwargs, message):
    with pytest.raises(ValueError, match=message):
        list(lab.lab_train(ctx, **{"steps": 1, **kwargs}))


@pytest.mark.parametrize("path", ["linear", "cosine"])
def test_the_flow_learns_the_time_derivative_of_its_noise_schedule(path):
    from studio.lab.flow import interpolant

    g = torch.Generator().manual_seed(0)
    x0, x1, t = torch.randn(50, 2, generator=g), torch.randn(50, 2, generator=g), torch.rand(50, generator=g)
    xt, target = interpolant(x0, x1, t, path)
    h = 1e-4
    ahead, _ = interpolant(x0, x1, t + h, path)
    assert torch.allclose((ahead - xt) / h, target, atol=2e-2)  # the regression target is dx_t/dt
    start, _ = interpolant(x0, x1, torch.zeros(50), path)
    end, _ = interpolant(x0, x1, torch.ones(50), path)
    assert torch.allclose(start, x0, atol=1e-6) and torch.allclose(end, x1, atol=1e-6)  # noise at 0, data at 1


def test_the_cosine_schedule_is_another_experiment(ctx):
    *_, (_, _, linear) = lab.lab_train(ctx, model_kind="flow matching", steps=5, frame_every=5, batch_size=64)
    *_, (_, stats, cosine) = lab.lab_train(ctx, model_kind="flow matching", flow_path="cosine", steps=5,
                                           frame_every=5, batch_size=64, lab=linear)
    assert cosine is not linear and cosine.config.path == "cosine" and "A new experiment" in stats


def test_no_seed_keeps_the_sessions_model_and_a_first_model_draws_one(ctx):
    _, stats, first = lab.lab_reset(ctx, batch_size=64, seed=None)  # was: manual_seed expected a long
    assert first.steps == 0 and 0 <= first.config.seed < 2**32
    _, _, stepped = lab.lab_step(ctx, part="G", batch_size=64, seed=None, lab=first)
    assert stepped is first and first.steps == 1
    *_, (_, _, played) = lab.lab_train(ctx, steps=5, frame_every=5, batch_size=64, seed=None, lab=first)
    assert played is first and first.steps == 6  # Play went on with the model's own seed
    *_, (_, _, minus_one) = lab.lab_train(ctx, steps=5, frame_every=5, batch_size=64, seed=-1, lab=first)
    assert minus_one is first and first.steps == 11


def test_a_second_play_of_one_model_takes_over_and_the_first_stops():
    """Two Plays of one session's model (a client that stopped waiting, then pressed Play again): the older stops
    at its next step, the newer trains alone; they never train the model by turns (that interleaved two
    optimisers' in-place updates: "modified by an inplace operation")."""
    import threading

    ctx = lab.LabContext.of(ModelRegistry([], device="cpu"))
    _, _, trainer = lab.lab_reset(ctx, model_kind="flow matching", batch_size=64)
    errors, first_frames = [], []
    started = threading.Event()

    def first():
        try:
            for frame in lab.lab_train(ctx, model_kind="flow matching", steps=20_000, frame_every=50,
                                       batch_size=64, lab=trainer):
                if isinstance(frame[1], str):  # a frame, not a heartbeat (gr.skip())
                    first_frames.append(frame[2].steps)
                started.set()
        except Exception as err:  # noqa: BLE001 - the test reports it
            errors.append(err)
        started.set()

    a = threading.Thread(target=first)
    a.start()
    assert started.wait(60)
    before = trainer.steps
    frames = [f for f in lab.lab_train(ctx, model_kind="flow matching", steps=200, frame_every=100, batch_size=64,
                                       frame_seconds=0, lab=trainer) if isinstance(f[1], str)]
    a.join(30)
    assert not a.is_alive() and errors == [], errors  # the first Play ended by itself, without an error
    assert len(frames) == 2 and frames[-1][2] is trainer
    assert first_frames[-1] <= trainer.steps - 200  # every frame of the first Play was sent before the second's
    assert trainer.steps - before <= 200 + 50 + 1  # the first trained at most its step in flight meanwhile


def _full_draw(trainer, t) -> np.ndarray:
    """matplotlib's own whole draw of a new frame figure of ``trainer`` as it is now (nothing left out as animated,
    nothing kept from an earlier frame)."""
    from studio.lab.figures import Plane, figure_lang
    from studio.plots import figure_to_image

    stats, samples = live.measure(trainer, None)
    plane = Plane(trainer, (figure_lang(),), t=t)
    plane.update(trainer, samples, t=t)
    for a in plane.fig.findobj(lambda a: a.get_animated()):
        a.set_animated(False)
    return np.asarray(figure_to_image(plane.fig)).astype(int)


@pytest.mark.parametrize("model_kind, loss, t, lang", [("GAN", "non-saturating", 1.0, "en"),
                                                        ("GAN", "hinge", 1.0, "en"),  # its colour bar moves
                                                        ("flow matching", "non-saturating", 0.5, "en"),
                                                        ("GAN", "non-saturating", 1.0, "zh-CN")])
def test_a_streamed_frame_is_the_whole_draw_of_its_figure(model_kind, loss, t, lang):
    """Each frame draws only what moves on the still parts kept from the first (studio/lab/figures.py: Plane);
    a frame later in a run is what matplotlib draws of a whole new figure of the model then, within the rounding
    of the legend's layer (2 of 255), and it changed as the model trained."""
    from studio.i18n import using
    from studio.lab.figures import _PLANES

    trainer, _ = lab.setup(None, "ring of 8", None, model_kind, loss, 2e-4, 2e-4, 1, 64, 2e-3, "linear", 0)
    with using(lang):
        first = np.asarray(lab.picture(trainer, t)[0]).astype(int)
        plane = _PLANES[trainer]
        for _ in range(30):
            trainer.step()
        later = np.asarray(lab.picture(trainer, t)[0]).astype(int)
        assert _PLANES[trainer] is plane  # drawn on the same figure
        full = _full_draw(trainer, t)
    assert later.shape == full.shape
    assert np.abs(later - full).max() <= 2
    assert (np.abs(later - full).sum(2) > 0).mean() < 0.05
    assert (np.abs(later - first).sum(2) > 30).mean() > 0.01  # the model moved: so did the picture
    assert "30" in plane.ax.get_title()
    legend = [x.get_text() for x in plane.ax.get_legend().get_texts()]
    assert (legend[0] == "real") == (lang == "en"), legend
