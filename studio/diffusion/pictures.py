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

from studio.plots import image_grid, to_pil


def scale_for(run_or_size) -> int:
    """How much to enlarge: the pictures are ~128 px whatever the model's size."""
    size = run_or_size if isinstance(run_or_size, int) else run_or_size.x_t.shape[-1]
    return max(1, 128 // size)


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
    return grid(run.x_t[k], scale=s), grid(run.x0_hat[k], scale=s), eps_grid(run.eps_hat[k], scale=s)


def preview(frame: dict, size: int) -> tuple:
    """A streamed frame of the loop (x_t, x0_hat, eps_hat of one step): the same three grids."""
    s = scale_for(size)
    return grid(frame["x_t"], scale=s), grid(frame["x0_hat"], scale=s), eps_grid(frame["eps_hat"], scale=s)


def guidance(run, k: int, n_max: int = 4):
    """Classifier-free guidance at step ``k``: a grid with one row per image (at most ``n_max``): x̂₀ from the
    conditional, unconditional and guided ε̂, then those three ε̂; and the RMS difference between the
    conditional and unconditional ε̂. ``(None, None)`` for a run that made one prediction per step."""
    if run.eps_cond is None:
        return None, None
    v = run.guidance_view(k)
    n = min(n_max, run.x_t.shape[1])
    cells = []
    for i in range(n):
        cells += [unit(v[part][0][i]) for part in ("cond", "uncond", "guided")]
        cells += [unit(v[part][1][i], (-2.0, 2.0)) for part in ("cond", "uncond", "guided")]
    gap = (v["cond"][1][:n] - v["uncond"][1][:n]).pow(2).mean().sqrt().item()
    return image_grid(torch.stack(cells), 6, scale=scale_for(run)), gap


def result_images(run) -> list:
    """Each final image of the run, enlarged."""
    return [to_pil(unit(img), scale=scale_for(run)) for img in run.images]


def _strip(run, rows: tuple, columns: int, n_max: int):
    """Per image (at most ``n_max``), one row per kept tensor in ``rows`` at ``columns`` evenly spaced steps,
    each row ending with the result."""
    cols = sorted({round(i * (run.steps - 1) / (columns - 1)) for i in range(columns)})
    cells = []
    for i in range(min(n_max, run.x_t.shape[1])):
        for kept in rows:
            cells += [unit(kept[c][i]) for c in cols] + [unit(run.images[i])]
    return image_grid(torch.stack(cells), len(cols) + 1, scale=scale_for(run))


def compare_strip(run, columns: int = 8, n_max: int = 4):
    """x̂₀ at ``columns`` evenly spaced steps, then the result; one row per image (at most ``n_max``)."""
    return _strip(run, (run.x0_hat,), columns, n_max)


def same_start(runs) -> bool:
    """Whether every run began from the same x_T (the comparison's fairness, checked, not assumed)."""
    return all(torch.equal(runs[0].x_T, r.x_T) for r in runs)


def export_frames(run, hold: int = 8) -> list:
    """The GIF's frames: per step, x_t over x̂₀ (one column per image); then the result ``hold`` times."""
    s, b = scale_for(run), run.x_t.shape[1]
    frames = [image_grid(torch.cat([unit(run.x_t[k]), unit(run.x0_hat[k])]), b, scale=s) for k in range(run.steps)]
    final = image_grid(torch.cat([unit(run.images)] * 2), b, scale=s)
    return frames + [final] * hold


def export_strip(run, columns: int = 10, n_max: int = 4):
    """The PNG strip: per image, a row of x_t and a row of x̂₀ at ``columns`` steps, each ending with the result."""
    return _strip(run, (run.x_t, run.x0_hat), columns, n_max)


def digit_as_x0(bundle, x: torch.Tensor) -> torch.Tensor:
    """A 28×28 digit in [0, 1] (1, 1, 28, 28) as the model's x₀ (C, S, S) in [−1, 1]: padded to 32×32 with
    black as the model was trained, resized for a model of another size, grey in every channel."""
    x0 = F.pad(x * 2 - 1, (2, 2, 2, 2), value=-1.0)  # (1, 1, 32, 32)
    if bundle.sample_size != 32:
        x0 = F.interpolate(x0, size=(bundle.sample_size,) * 2, mode="bilinear", align_corners=False)
    return x0[0].expand(bundle.in_channels, -1, -1)


def forward_strip(x_t: torch.Tensor, size: int):
    """The forward process's x_t at each t (T, C, S, S) in one row."""
    return image_grid(unit(x_t), len(x_t), scale=scale_for(size))
