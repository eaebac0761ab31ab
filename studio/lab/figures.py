"""The lab's picture of a trainer, drawn fresh for every streamed frame: the plane [-3, 3]², the real points, the
generated ones, and what the model has learnt.

* A GAN: the discriminator's decision surface as a heat map (σ(D), red = "real"; a WGAN-GP or hinge critic's raw
  score), and at 128 of the generated points the direction the generator's loss moves them (−∂loss/∂x), as arrows.
* A flow: 64 samples' trajectories from noise (t = 0) up to the chosen time t, the learnt velocity v(x, t) on a
  16×16 grid as arrows, and where those samples are at t.
"""

from __future__ import annotations

import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from studio.i18n import T_
from studio.lab.gan import GAN2D
from studio.lab.live import LIM, LIVE_ODE_STEPS
from studio.plots import new_figure

REAL, FAKE = "#2c3e50", "#e67e22"


def _axes(fig: Figure, width: float = 0.88):
    ax = fig.add_axes((0.08, 0.08, width, 0.86))
    ax.set_xlim(-LIM, LIM)
    ax.set_ylim(-LIM, LIM)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    return ax


def frame(trainer, samples: torch.Tensor, *, t: float = 1.0, real_seed: int = 1,
          paths: torch.Tensor | None = None) -> Figure:
    """The figure of ``trainer`` now (``samples``: its 2,500 generated points from fixed noise; for a flow,
    ``paths``: (steps + 1, 64, 2) trajectories to draw, else 64 are solved here)."""
    gan = isinstance(trainer, GAN2D)
    fig = new_figure(figsize=(5.8 if gan else 5.2, 5.2))
    ax = _axes(fig, 0.78 if gan else 0.88)
    real = trainer.target.sample(600, torch.Generator().manual_seed(real_seed))
    if gan:
        surface = trainer.surface(lim=LIM, n=64)
        classic = trainer.config.loss in ("minimax", "non-saturating")
        im = ax.imshow(surface.numpy(), extent=(-LIM, LIM, -LIM, LIM), origin="lower", cmap="RdBu_r", alpha=0.55,
                       vmin=0 if classic else None, vmax=1 if classic else None, interpolation="bilinear")
        cb = fig.colorbar(im, cax=fig.add_axes((0.88, 0.12, 0.025, 0.78)))
        cb.ax.tick_params(labelsize=6)
        cb.set_label(T_("D(x): how real it looks") if classic else T_("critic score"), fontsize=7)
        ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL, alpha=0.5, label=T_("real"))
        ax.scatter(samples[:1000, 0], samples[:1000, 1], s=3, c=FAKE, alpha=0.6, label=T_("generated"))
        pts = samples[:128]
        arrows = trainer.g_gradient(pts)
        arrows = arrows / arrows.norm(dim=1, keepdim=True).clamp_min(1e-8) * 0.25
        ax.quiver(pts[:, 0], pts[:, 1], arrows[:, 0], arrows[:, 1], angles="xy", scale_units="xy", scale=1,
                  width=0.003, color="#6c3483", label=T_("where G's loss moves its points"))
    else:
        path = paths if paths is not None else trainer.trajectories(64, seed=0, steps=LIVE_ODE_STEPS)
        k = round(t * (len(path) - 1))
        if k > 0:  # the 64 paths as one artist (64 ax.plot lines drew in ~40 ms)
            ax.add_collection(LineCollection(path[:k + 1].transpose(0, 1).numpy(), linewidths=0.6,
                                             colors="#95a5a6", alpha=0.7))
        ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL, alpha=0.4, label=T_("real"))
        ax.scatter(samples[:1000, 0], samples[:1000, 1], s=2, c=FAKE, alpha=0.35, label=T_("generated (t = 1)"))
        ax.scatter(path[k, :, 0], path[k, :, 1], s=12, c="#c0392b", label=T_(f"64 samples at t = {t:.2f}"))
        pts, vel = trainer.field(t, lim=LIM, n=16)
        vel = vel / vel.norm(dim=1, keepdim=True).clamp_min(1e-8) * 0.25
        ax.quiver(pts[:, 0], pts[:, 1], vel[:, 0], vel[:, 1], angles="xy", scale_units="xy", scale=1, width=0.003,
                  color="#2980b9", alpha=0.8, label=T_(f"velocity v(x, t = {t:.2f})"))
    ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
    ax.set_title(T_(f"step {trainer.steps}"), fontsize=9)
    return fig
