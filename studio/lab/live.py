"""The lab's trainers as a tab runs them: made from the controls, kept between Play / Pause / one step, measured,
and drawn. No gradio here (studio/lab/tab.py wires it).

A trainer (``GAN2D`` or ``Flow2D``) is small (two MLPs of width 64, or one of width 128, and their optimisers), so a
session keeps its own in its state between clicks: Pause stops the stream and the trainer stays where it was;
Play goes on from there. Changing a learning rate or the discriminator steps while paused applies to the same
trainer (GAN Lab lets you, and so does this); changing the target, the model, the loss, the batch or the seed
starts a new one (it is another experiment), and the note says so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from studio.i18n import N_
from studio.lab.flow import Flow2D, FlowConfig
from studio.lab.gan import GAN2D, GANConfig
from studio.lab.targets import N_SAMPLES, TARGETS, drawn, mode_stats

MODELS = ("GAN", "flow matching")
LIM = 3.0  # the plane shown and drawn on: [-3, 3]²
MAX_DRAWN = 400  # points taken from a drawing
# Presets that teach one thing each (the GAN's): "collapse" is minimax with a discriminator that learns fast.
PRESETS = {
    "non-saturating (default)": {"loss": "non-saturating", "lr_g": GANConfig.lr_g, "lr_d": GANConfig.lr_d, "d_steps": 1},
    "minimax: watch it collapse": {"loss": "minimax", "lr_g": 2e-3, "lr_d": 2e-3, "d_steps": 1},
    "hinge": {"loss": "hinge", "lr_g": 2e-3, "lr_d": 2e-3, "d_steps": 1},
    "WGAN-GP (5 critic steps)": {"loss": "wgan-gp", "lr_g": 1e-3, "lr_d": 1e-3, "d_steps": 5},
}


def points_from_drawing(image) -> list[list[float]]:
    """The inked pixels of a sketch (PIL or array; dark strokes on light, or strokes on a transparent canvas) as
    points of [-3, 3]² (x to the right, y up), at most MAX_DRAWN of them, evenly picked."""
    if image is None:
        return []
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4 and arr[..., 3].min() < 250:
        ink = arr[..., 3] > 128
    else:
        grey = arr.mean(2) if arr.ndim == 3 else arr
        ink = grey < 128 if np.median(grey) > 128 else grey > 128
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        return []
    h, w = ink.shape
    pick = np.linspace(0, len(rows) - 1, min(MAX_DRAWN, len(rows))).round().astype(int)
    xs = cols[pick] / max(w - 1, 1) * 2 * LIM - LIM
    ys = LIM - rows[pick] / max(h - 1, 1) * 2 * LIM
    return np.stack([xs, ys], 1).round(3).tolist()


def target_of(name: str, points=None):
    if name == "drawn":
        return drawn(points or [])
    if name not in TARGETS:
        raise ValueError(f"target must be one of {', '.join([*TARGETS, 'drawn'])}, got {name!r}.")
    return TARGETS[name]


def trainer_for(previous, *, model: str, target, gan: GANConfig, flow: FlowConfig):
    """The trainer the controls ask for, and a note: ``previous`` itself when only what may change mid-run changed
    (learning rates, discriminator steps), with those applied; else a new one."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}.")
    config = (gan if model == "GAN" else flow).validated()
    kind = GAN2D if model == "GAN" else Flow2D
    same_target = previous is not None and previous.target.name == target.name and (
        target.name != "drawn" or torch.equal(previous.target.modes, target.modes))
    if isinstance(previous, kind) and same_target:
        fixed = ("loss", "batch_size", "hidden", "seed") if model == "GAN" else ("batch_size", "hidden", "seed", "path")
        if all(getattr(previous.config, f) == getattr(config, f) for f in fixed):
            changed = [f for f in ("lr_g", "lr_d", "d_steps", "lr") if hasattr(config, f)
                       and getattr(previous.config, f) != getattr(config, f)]
            previous.config = config
            if model == "GAN":
                for opt, lr in ((previous.opt_g, config.lr_g), (previous.opt_d, config.lr_d)):
                    for group in opt.param_groups:
                        group["lr"] = lr
            return previous, (N_(f"Changed mid-run: {', '.join(changed)}.") if changed else "")
    note = "" if previous is None else N_("A new experiment: the target, the model, the loss, the batch or the seed "
                                          "changed.")
    return kind(target, config), note


LIVE_ODE_STEPS = 32  # a flow's live frames solve its ODE in 32 Heun steps (its default, 100, for the tests' figures)


def measure(trainer, path: torch.Tensor | None = None) -> dict:
    """The VEEGAN figures on 2,500 samples from fixed noise (for a mixture target), the last losses, the steps. A
    flow's samples come from LIVE_ODE_STEPS Heun steps: 100 made a frame take 260 ms of its 200 ms budget
    (benchmarks/lab.py), and on these nearly straight paths 32 second-order steps land the same points to the eye."""
    if isinstance(trainer, Flow2D):  # ``path``: these trajectories, already solved (the frame draws 64 of them)
        samples = (path if path is not None else trainer.trajectories(N_SAMPLES, steps=LIVE_ODE_STEPS))[-1]
    else:
        samples = trainer.samples(N_SAMPLES)
    out = {"steps": trainer.steps, "last": trainer.history[-1] if trainer.history else {}}
    if trainer.target.modes is not None and trainer.target.name != "drawn":
        out.update(mode_stats(samples, trainer.target))
    return out, samples


def one_step(trainer, part: str) -> str:
    """One discriminator update, one generator update (a GAN), or one training step (flow)."""
    if isinstance(trainer, GAN2D):
        if part == "D":
            loss = trainer.d_step()
            trainer.history.append({"step": trainer.steps, "d_loss": loss,
                                    "g_loss": trainer.history[-1]["g_loss"] if trainer.history else float("nan")})
            return N_(f"One discriminator step: its loss {loss:.3f}.")
        if part == "G":
            loss = trainer.g_step()
            trainer.steps += 1
            trainer.history.append({"step": trainer.steps, "d_loss": trainer.history[-1]["d_loss"]
                                    if trainer.history else float("nan"), "g_loss": loss})
            return N_(f"One generator step: its loss {loss:.3f}.")
        raise ValueError(f"part must be 'D' or 'G', got {part!r}.")
    out = trainer.step()
    return N_(f"One training step: loss {out['loss']:.4f}.")


def config_of(loss, lr_g, lr_d, d_steps, batch_size, lr_flow, seed, path="linear",
              hidden_gan=64) -> tuple[GANConfig, FlowConfig]:
    gan = GANConfig(loss=loss, lr_g=lr_g, lr_d=lr_d, d_steps=d_steps, batch_size=batch_size, hidden=hidden_gan,
                    seed=seed)
    flow = replace(FlowConfig(), lr=lr_flow, batch_size=batch_size, seed=seed, path=path)
    return gan, flow
