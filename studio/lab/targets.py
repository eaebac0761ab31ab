"""2-D target distributions for the live training lab, and the mode-coverage measure of VEEGAN.

Presets (``TARGETS``): a ring of 8 Gaussians (radius 2, σ 0.02, as in VEEGAN, Srivastava et al. 2017), a 5×5 grid
of Gaussians (PacGAN's: spacing 2, σ 0.05, here scaled by ½ into [-2, 2]²), two moons, a spiral and a line. A drawn distribution is a list of
points a student sketched: samples are those points with a little Gaussian jitter.

**Measured as in VEEGAN** (``mode_stats``): 2,500 samples; a sample is *high quality* when it lies within 3σ of
the nearest mode's centre; a mode is *covered* when at least ``MIN_PER_MODE`` = 20 high-quality samples are its
(PacGAN's threshold for the same protocol: fewer than 20 of 2,500 counts as a lost mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

N_SAMPLES = 2500
MIN_PER_MODE = 20


@dataclass(frozen=True)
class Target:
    name: str
    modes: torch.Tensor | None  # (M, 2) mode centres, for the mixtures; None where there are no modes to count
    sigma: float

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` points (n, 2) drawn with ``generator``."""
        if self.modes is not None:
            idx = torch.randint(len(self.modes), (n,), generator=generator)
            return self.modes[idx] + self.sigma * torch.randn(n, 2, generator=generator)
        t = torch.rand(n, generator=generator)
        noise = self.sigma * torch.randn(n, 2, generator=generator)
        if self.name == "two moons":
            upper = torch.rand(n, generator=generator) < 0.5
            angle = math.pi * t
            x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
            y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
            return torch.stack([x - 0.5, y - 0.25], 1) * 1.5 + noise
        if self.name == "spiral":
            r = 0.3 + 1.7 * t
            angle = 3 * math.pi * t
            return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1) + noise
        if self.name == "line":
            return torch.stack([4 * t - 2, 0.5 * (4 * t - 2)], 1) + noise
        raise ValueError(f"unknown target {self.name!r}")


def ring(n_modes: int = 8, radius: float = 2.0, sigma: float = 0.02) -> Target:
    angles = torch.arange(n_modes) * (2 * math.pi / n_modes)
    return Target("ring of 8", torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], 1), sigma)


def grid(side: int = 5, spacing: float = 2.0, sigma: float = 0.05) -> Target:
    axis = (torch.arange(side) - (side - 1) / 2) * spacing
    return Target("5x5 grid", torch.cartesian_prod(axis, axis).float() / 2, sigma / 2)  # scaled into [-2, 2]


TARGETS = {"ring of 8": ring(), "5x5 grid": grid(), "two moons": Target("two moons", None, 0.05),
           "spiral": Target("spiral", None, 0.04), "line": Target("line", None, 0.03)}


def drawn(points, sigma: float = 0.05) -> Target:
    """A distribution a student drew: the points (at least 3, finite, inside [-3, 3]²) with σ jitter."""
    pts = torch.as_tensor(points, dtype=torch.float32).reshape(-1, 2)
    if len(pts) < 3:
        raise ValueError(f"Draw at least 3 points; got {len(pts)}.")
    if not torch.isfinite(pts).all() or pts.abs().max() > 3:
        raise ValueError("Drawn points must be finite and inside the square from -3 to 3.")
    return Target("drawn", pts, sigma)


def mode_stats(samples: torch.Tensor, target: Target) -> dict:
    """VEEGAN's figures for ``samples`` (N, 2) against a mixture ``target``: the share of high-quality samples
    (within 3σ of the nearest mode) and the modes covered (≥ MIN_PER_MODE high-quality samples each)."""
    if target.modes is None:
        raise ValueError(f"{target.name} has no modes to count")
    d = torch.cdist(samples.float(), target.modes)  # (N, M)
    dist, nearest = d.min(1)
    good = dist <= 3 * target.sigma
    per_mode = torch.bincount(nearest[good], minlength=len(target.modes))
    return {"high_quality": round(good.float().mean().item(), 4), "modes_covered": int((per_mode >= MIN_PER_MODE).sum()),
            "modes": len(target.modes), "samples": len(samples), "per_mode": per_mode.tolist()}
