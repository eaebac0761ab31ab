"""The pictures the Diffusion tab shows, made from a run (or a frame, a digit) and returned as PIL images.

Everything a tab would otherwise do with tensors is here, tested without a server: mapping [−1, 1] samples and
ε̂ to grey levels, the guidance panel and its RMS gap, the comparison strips, the export frames, and a
held-out digit made into the model's x₀. Conventions: x_t and x̂₀ are shown over [−1, 1] (black to white), ε̂
over [−2, 2] (grey = 0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from studio.diffusion.digits import pad_digit
from studio.plots import image_grid, to_pil


LATENT_RANGE = (-3.0, 3.0)  # a latent's channels are shown over this range (they are roughly N(0, 1))


def scale_for(run_or_size) -> int:
    """How much to enlarge: the pictures are ~128 px whatever the model's size."""
    size = run_or_size if isinstance(run_or_size, int) else run_or_size.images.shape[-1]
    return max(1, 128 // size)


def is_latent(run) -> bool:
    """A text-to-image run: its states are latents, its x̂₀ a picture of them (the run record says: ``space``)."""
    return run.space == "latent"


def mosaic(z: torch.Tensor) -> torch.Tensor:
    """A latent (B, C, h, w) as one grey picture per image, its channels side by side (2 × 2 for 4): (B, 1, H', W')."""
    b, c, h, w = z.shape
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    out = torch.zeros(b, 1, rows * h, cols * w)
    for i in range(c):
        out[:, 0, (i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = z[:, i].float()
    return out


def to_size(x: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """(B, C, h, w) resized (nearest: the pixels stay visible) to ``size`` and given ``channels`` (grey repeated)."""
    x = x.float()
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="nearest")
    return x.expand(-1, channels, -1, -1) if x.shape[1] == 1 and channels > 1 else x


def shown(run, what: str, k: int) -> torch.Tensor:
    """Step k's x_t, x̂₀ or ε̂ as pictures in [-1, 1] of the result's size: a pixel run's own tensors (ε̂ halved, so
    ±2 is black and white); a latent run's z_t and ε̂ as channel mosaics, its x̂₀ picture resized."""
    size, channels = run.images.shape[-1], run.images.shape[1]
    if not is_latent(run):
        return {"x_t": run.x_t[k].float(), "x0": run.x0_hat[k].float(), "eps": run.eps_hat[k].float() / 2}[what]
    lo, hi = LATENT_RANGE
    if what == "x0":
        return to_size(run.x0_hat[k], size, channels)
    z = run.latents[k] if what == "x_t" else run.eps_hat[k]
    return to_size((mosaic(z) - lo) / (hi - lo) * 2 - 1, size, channels).clamp(-1, 1)


def unit(x: torch.Tensor, value_range=(-1.0, 1.0)) -> torch.Tensor:
    """``x`` mapped from ``value_range`` to [0, 1], clipped (the grey levels a picture shows)."""
    lo, hi = value_range
    return ((x.float() - lo) / (hi - lo)).clamp(0, 1)


def grid(x: torch.Tensor, *, scale: int = 3, value_range=(-1.0, 1.0)):
    """A batch (B, C, H, W) in ``value_range`` as a square-ish grid."""
    return image_grid(unit(x, value_range), math.ceil(math.sqrt(x.shape[0])), scale=scale)


def eps_grid(eps: torch.Tensor, scale: int = 3):
    return grid(eps, scale=scale, value_range=(-2.0, 2.0))


def panels(run, k: int) -> tuple:
    """Step ``k`` of a kept run: (x_t, x̂₀, ε̂) grids."""
    s = scale_for(run)
    return tuple(grid(shown(run, what, k), scale=s) for what in ("x_t", "x0", "eps"))


def preview(frame: dict, size: int) -> tuple:
    """A streamed frame of the loop (x_t, x0_hat, eps_hat of one step): the same three grids (a latent frame's
    z_t and ε̂ as channel mosaics, its x̂₀ picture at the result's size)."""
    s = scale_for(size)
    if frame["x_t"].shape[-1] == frame["x0_hat"].shape[-1] == size and frame["x_t"].shape[1] == frame["x0_hat"].shape[1]:
        return grid(frame["x_t"], scale=s), grid(frame["x0_hat"], scale=s), eps_grid(frame["eps_hat"], scale=s)
    channels = frame["x0_hat"].shape[1]
    lo, hi = LATENT_RANGE
    pic = (lambda z: to_size((mosaic(z) - lo) / (hi - lo) * 2 - 1, size, channels).clamp(-1, 1))
    return grid(pic(frame["x_t"]), scale=s), grid(to_size(frame["x0_hat"], size, channels), scale=s), \
        grid(pic(frame["eps_hat"]), scale=s)


def guidance(run, k: int, n_max: int = 4):
    """Classifier-free guidance at step ``k``: a grid with one row per image (at most ``n_max``): x̂₀ from the
    conditional, unconditional and guided ε̂, then those three ε̂; and the RMS difference between the
    conditional and unconditional ε̂. ``(None, None)`` for a run that made one prediction per step."""
    if run.eps_cond is None:
        return None, None
    v = run.guidance_view(k)  # x̂₀ pictured the run's way (a latent run's through its decoder or linear preview)
    n = min(n_max, run.x_t.shape[1])
    size, channels = run.images.shape[-1], run.images.shape[1]
    lo, hi = LATENT_RANGE
    cells = []
    for i in range(n):
        if is_latent(run):
            cells += [unit(to_size(v[part][0][i:i + 1], size, channels)[0]) for part in ("cond", "uncond", "guided")]
            cells += [unit(to_size(mosaic(v[part][1][i:i + 1]), size, channels)[0], (lo, hi))
                      for part in ("cond", "uncond", "guided")]
            continue
        cells += [unit(v[part][0][i]) for part in ("cond", "uncond", "guided")]
        cells += [unit(v[part][1][i], (-2.0, 2.0)) for part in ("cond", "uncond", "guided")]
    gap = (v["cond"][1][:n] - v["uncond"][1][:n]).pow(2).mean().sqrt().item()
    return image_grid(torch.stack(cells), 6, scale=scale_for(run)), gap


def result_images(run) -> list:
    """Each final image of the run, enlarged."""
    return [to_pil(unit(img), scale=scale_for(run)) for img in run.images]


def _strip(run, rows: tuple, columns: int, n_max: int):
    """Per image (at most ``n_max``), one row per kept picture in ``rows`` ("x_t", "x0") at ``columns`` evenly
    spaced steps, each row ending with the result."""
    cols = sorted({round(i * (run.steps - 1) / (columns - 1)) for i in range(columns)})
    cells = []
    for i in range(min(n_max, run.x_t.shape[1])):
        for what in rows:
            cells += [unit(shown(run, what, c)[i]) for c in cols] + [unit(run.images[i])]
    return image_grid(torch.stack(cells), len(cols) + 1, scale=scale_for(run))


def compare_strip(run, columns: int = 8, n_max: int = 4):
    """x̂₀ at ``columns`` evenly spaced steps, then the result; one row per image (at most ``n_max``)."""
    return _strip(run, ("x0",), columns, n_max)


def same_start(runs) -> bool:
    """Whether every run began from the same x_T (the comparison's fairness, checked, not assumed)."""
    return all(torch.equal(runs[0].x_T, r.x_T) for r in runs)


def export_frames(run, hold: int = 8) -> list:
    """The GIF's frames: per step, x_t over x̂₀ (one column per image); then the result ``hold`` times."""
    s, b = scale_for(run), run.x_t.shape[1]
    frames = [image_grid(torch.cat([unit(shown(run, "x_t", k)), unit(shown(run, "x0", k))]), b, scale=s)
              for k in range(run.steps)]
    final = image_grid(torch.cat([unit(run.images)] * 2), b, scale=s)
    return frames + [final] * hold


def export_strip(run, columns: int = 10, n_max: int = 4):
    """The PNG strip: per image, a row of x_t and a row of x̂₀ at ``columns`` steps, each ending with the result."""
    return _strip(run, ("x_t", "x0"), columns, n_max)


def digit_as_x0(bundle, x: torch.Tensor) -> torch.Tensor:
    """A 28×28 digit in [0, 1] (1, 1, 28, 28) as the model's x₀ (C, S, S) in [−1, 1]: padded to 32×32 with
    black as the model was trained, resized for a model of another size, grey in every channel."""
    return pad_digit(x, bundle.sample_size)[0].expand(bundle.in_channels, -1, -1)


def forward_strip(x_t: torch.Tensor, size: int):
    """The forward process's x_t at each t (T, C, S, S) in one row."""
    return image_grid(unit(x_t), len(x_t), scale=scale_for(size))


def starting_picture(size: int, channels: int, *, digit: torch.Tensor | None = None, image=None) -> torch.Tensor:
    """img2img's start as a model input (1, channels, size, size) in [-1, 1]: a 28×28 digit in [0, 1] (1, 1, 28, 28)
    padded to 32×32 as the digit models were trained, or a picture (PIL) resized, for a colour model."""
    if digit is not None:
        return pad_digit(digit, size).expand(-1, channels, -1, -1)
    import numpy as np

    rgb = np.asarray(image.convert("RGB" if channels == 3 else "L").resize((size, size)), dtype=np.float32)
    x = torch.from_numpy(rgb).view(size, size, -1).permute(2, 0, 1)[None]
    return x / 127.5 - 1
