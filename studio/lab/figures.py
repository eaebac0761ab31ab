"""The lab's picture of a trainer, one for every streamed frame: the plane [-3, 3]², the real points, the generated
ones, and what the model has learnt.

* A GAN: the discriminator's decision surface as a heat map (σ(D), red = "real"; a WGAN-GP or hinge critic's raw
  score), and at 128 of the generated points the direction the generator's loss moves them (−∂loss/∂x), as arrows.
* A flow: 64 samples' trajectories from noise (t = 0) up to the chosen time t, the learnt velocity v(x, t) on a
  16×16 grid as arrows, and where those samples are at t.

A streamed frame is drawn with matplotlib's blitting (:class:`Plane`): each trainer keeps one figure whose still
parts (the axes, ticks, colour bar) are drawn once, and each frame restores them and draws only what moves, in the
order a full draw uses, with the legend laid over as a layer drawn once. A frame drawn so is matplotlib's whole draw
of a new figure of the same model within 2/255 in the legend's box (tests/test_lab_tab.py); it costs a quarter of a
whole draw (benchmarks/lab.py: lab_gan_frame_ms, 50-62 ms vs 249 ms).
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from matplotlib.axis import Axis
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from studio.i18n import T_, figure_lang
from studio.lab.gan import GAN2D
from studio.lab.live import LIM, LIVE_ODE_STEPS
from studio.plots import new_figure, use_fallback_font

REAL, FAKE = "#2c3e50", "#e67e22"
LEGEND = dict(fontsize=7, loc="upper right", framealpha=0.8)


def _axes(fig: Figure, width: float = 0.88):
    ax = fig.add_axes((0.08, 0.08, width, 0.86))
    ax.set_xlim(-LIM, LIM)
    ax.set_ylim(-LIM, LIM)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    return ax


class Plane:
    """One trainer's frame figure, kept between frames: :meth:`image` restores the still parts drawn once and
    draws the moving ones on them (matplotlib's blitting). ``key``: what the still parts depend on (the page's
    language, the loss's scale, the flow's time in the legend); another key needs another Plane."""

    def __init__(self, trainer, key: tuple, *, t: float = 1.0, real_seed: int = 1):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.key, self.gan = key, isinstance(trainer, GAN2D)
        self.fig = new_figure(figsize=(5.8 if self.gan else 5.2, 5.2))
        ax = self.ax = _axes(self.fig, 0.78 if self.gan else 0.88)
        real = trainer.target.sample(600, torch.Generator().manual_seed(real_seed))
        none = np.zeros((0, 2))
        if self.gan:
            self.classic = trainer.config.loss in ("minimax", "non-saturating")
            self.im = ax.imshow(np.zeros((64, 64)), extent=(-LIM, LIM, -LIM, LIM), origin="lower", cmap="RdBu_r",
                                alpha=0.55, vmin=0 if self.classic else None, vmax=1 if self.classic else None,
                                interpolation="bilinear")
            self.cb = self.fig.colorbar(self.im, cax=self.fig.add_axes((0.88, 0.12, 0.025, 0.78)))
            self.cb.ax.tick_params(labelsize=6)
            self.cb.set_label(T_("D(x): how real it looks") if self.classic else T_("critic score"), fontsize=7)
            ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL, alpha=0.5, label=T_("real"))
            self.fake = ax.scatter(none[:, 0], none[:, 1], s=3, c=FAKE, alpha=0.6, label=T_("generated"))
            self.arrow_style = dict(angles="xy", scale_units="xy", scale=1, width=0.003, color="#6c3483")
            self.arrow_label = T_("where G's loss moves its points")
        else:
            # the 64 paths as one artist (64 ax.plot lines drew in ~40 ms)
            self.paths = ax.add_collection(LineCollection([], linewidths=0.6, colors="#95a5a6", alpha=0.7))
            ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL, alpha=0.4, label=T_("real"))
            self.fake = ax.scatter(none[:, 0], none[:, 1], s=2, c=FAKE, alpha=0.35, label=T_("generated (t = 1)"))
            self.now = ax.scatter(none[:, 0], none[:, 1], s=12, c="#c0392b", label=T_(f"64 samples at t = {t:.2f}"))
            self.arrow_style = dict(angles="xy", scale_units="xy", scale=1, width=0.003, color="#2980b9", alpha=0.8)
            self.arrow_label = T_(f"velocity v(x, t = {t:.2f})")
        self.arrows = ax.quiver(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), label=self.arrow_label,
                                **self.arrow_style)
        legend = ax.legend(**LEGEND)
        ax.set_title(T_(f"step {trainer.steps}"), fontsize=9)
        # the moving parts: everything inside the axes (the points are drawn over the heat map), the title; and the
        # colour bar where its scale follows the critic's scores. The legend, on top of them all, does not move:
        # drawn once on a transparent layer, laid over each frame (it was a third of a frame drawn each time)
        self.moving = [a for a in ax.get_children() if a is not ax.patch and a is not legend and not isinstance(a, Axis)]
        self.moving_fig = [self.cb.ax] if self.gan and not self.classic else []
        for a in self.moving + self.moving_fig + [legend]:
            a.set_animated(True)
        self.canvas = FigureCanvasAgg(self.fig)
        self.canvas.draw()
        self.still = self.canvas.copy_from_bbox(self.fig.bbox)
        self.legend_box, self.legend_colour, self.legend_alpha = self._layer(legend)

    def _layer(self, legend) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
        """``legend`` drawn alone on a transparent copy of the axes: (the legend's box in the frame, its colours
        there, their opacity), to lay over a frame as matplotlib would draw it there."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = new_figure(figsize=self.fig.get_size_inches(), dpi=self.fig.dpi)
        fig.patch.set_alpha(0)
        ax = fig.add_axes(self.ax.get_position().bounds)  # where the full draw put the axes (its aspect applied)
        ax.set_xlim(-LIM, LIM)
        ax.set_ylim(-LIM, LIM)
        ax.set_axis_off()
        ax.legend(*self.ax.get_legend_handles_labels(), **LEGEND)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        rows, cols = np.nonzero(rgba[..., 3])
        where = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        box = rgba[where]
        return where, box[..., :3].astype(np.float32), box[..., 3:].astype(np.float32) / 255

    def update(self, trainer, samples: torch.Tensor, *, t: float = 1.0, paths: torch.Tensor | None = None) -> None:
        """Set the moving parts to ``trainer`` now: ``samples``, its 2,500 generated points from fixed noise; for a
        flow, ``paths``, (steps + 1, 64, 2) trajectories to draw (else 64 are solved here)."""
        ax = self.ax
        if self.gan:
            surface = trainer.surface(lim=LIM, n=64).numpy()
            self.im.set_data(surface)
            if not self.classic:
                self.im.set_clim(surface.min(), surface.max())
            self.fake.set_offsets(samples[:1000].numpy())
            pts = samples[:128]
            arrows = trainer.g_gradient(pts)
            arrows = arrows / arrows.norm(dim=1, keepdim=True).clamp_min(1e-8) * 0.25
            xy, uv = pts.numpy(), arrows.numpy()
        else:
            path = paths if paths is not None else trainer.trajectories(64, seed=0, steps=LIVE_ODE_STEPS)
            k = round(t * (len(path) - 1))
            self.paths.set_segments(path[:k + 1].transpose(0, 1).numpy() if k > 0 else [])
            self.fake.set_offsets(samples[:1000].numpy())
            self.now.set_offsets(path[k].numpy())
            xy, vel = trainer.field(t, lim=LIM, n=16)
            uv = (vel / vel.norm(dim=1, keepdim=True).clamp_min(1e-8) * 0.25).numpy()
            xy = xy.numpy()
        # a Quiver's places are fixed when it is made: a new one, in the old one's place in the drawing order
        at = self.moving.index(self.arrows)
        self.arrows.remove()
        self.arrows = ax.quiver(xy[:, 0], xy[:, 1], uv[:, 0], uv[:, 1], label=self.arrow_label, **self.arrow_style)
        self.arrows.set_animated(True)
        self.moving[at] = self.arrows
        ax.title.set_text(T_(f"step {trainer.steps}"))
        if self.key[0] != "en":
            use_fallback_font(self.fig)

    def image(self, trainer, samples: torch.Tensor, *, t: float = 1.0, paths: torch.Tensor | None = None):
        """The frame of ``trainer`` now as a PIL image: the still parts restored, the moving ones drawn on them."""
        from PIL import Image

        self.update(trainer, samples, t=t, paths=paths)
        self.canvas.restore_region(self.still)
        renderer = self.canvas.get_renderer()
        # as Axes.draw orders them: by z-order, images composited first among equals (none here share one)
        for a in sorted(self.moving, key=lambda a: a.get_zorder()):
            a.draw(renderer)
        for a in self.moving_fig:
            a.draw(renderer)
        out = np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
        under = out[self.legend_box].astype(np.float32)
        out[self.legend_box] = (self.legend_colour * self.legend_alpha + under * (1 - self.legend_alpha)
                                + 0.5).astype(np.uint8)
        return Image.fromarray(out, mode="RGB")


_PLANES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # trainer -> its Plane (gone with the trainer)


def frame_image(trainer, samples: torch.Tensor, *, t: float = 1.0, paths: torch.Tensor | None = None):
    """The streamed frame of ``trainer`` (arguments as :meth:`Plane.update`'s) as a PIL image, drawn on the trainer's
    :class:`Plane` (a new one when the language, the loss's scale or the flow's time changed). The caller holds the
    trainer's lock (studio/lab/tab.py: held), so one Plane is never drawn by two threads."""
    gan = isinstance(trainer, GAN2D)
    key = (figure_lang(), trainer.config.loss in ("minimax", "non-saturating") if gan else f"{t:.2f}")
    plane = _PLANES.get(trainer)
    if plane is None or plane.key != key:
        plane = _PLANES[trainer] = Plane(trainer, key, t=t)
    return plane.image(trainer, samples, t=t, paths=paths)
