"""A flow-matching model on 2-D points, trained live (Lipman et al. 2023, https://arxiv.org/abs/2210.02747).

Why flow matching for the lab (and not a DDPM as well, yet): its probability path is a straight line from noise
x₀ ~ N(0, I) to a data point x₁, x_t = (1 − t)·x₀ + t·x₁, and the network v(x, t) learns the velocity x₁ − x₀
by plain regression; sampling solves dx/dt = v(x, t) from t = 0 to 1, a deterministic ODE, so every sample has one
trajectory a student can follow with a time slider, and the learned field at time t is a picture of arrows. A DDPM's
reverse process adds fresh noise at each step, so its paths are jittery and one seed's path depends on the
sampler; the lesson (a field learnt from data carries noise to the data) is the same.

The noise schedule (``path``): "linear" is the straight line above (rectified flow); "cosine" is the
variance-preserving path x_t = cos(πt/2)·x₀ + sin(πt/2)·x₁, whose velocity target is its time derivative
(π/2)(cos(πt/2)·x₁ − sin(πt/2)·x₀): the same data and noise, a different schedule of how much of each at time t,
and so a different field and curved paths.

Network: an MLP on (x, a sinusoidal embedding of t). Training: Adam, lr 2e-3 with cosine decay over the budget,
batch 512. Sampling: Heun's method (second order), ``sample_steps`` steps. Everything random comes from the
config's seed: the same config replays the same training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch

from studio import checks
from studio.lab.gan import linear

FREQS = 8
PATHS = ("linear", "cosine")


def interpolant(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, dx_t/dt) on the path from noise x0 (t = 0) to data x1 (t = 1): (N, 2) each, t (N,)."""
    t = t[:, None]
    if path == "linear":
        return (1 - t) * x0 + t * x1, x1 - x0
    a, s = torch.sin(math.pi / 2 * t), torch.cos(math.pi / 2 * t)
    return s * x0 + a * x1, (math.pi / 2) * (s * x1 - a * x0)


@dataclass(frozen=True)
class FlowConfig:
    lr: float = 2e-3
    batch_size: int = 512
    hidden: int = 128
    budget: int = 10_000  # training steps; the learning rate decays to 0 over them
    sample_steps: int = 100
    path: str = "linear"  # the noise schedule: "linear" (rectified flow) or "cosine" (variance preserving)
    seed: int = 0

    def validated(self) -> "FlowConfig":
        if self.path not in PATHS:
            raise ValueError(f"path must be one of {', '.join(PATHS)}, got {self.path!r}.")
        if not (isinstance(self.lr, (int, float)) and 1e-5 <= self.lr <= 0.1):
            raise ValueError(f"lr must be between 1e-05 and 0.1, got {self.lr!r}.")
        limits = (("batch_size", 8, 4096), ("hidden", 8, 512), ("budget", 1, 100_000), ("sample_steps", 1, 1000))
        return replace(self, **{name: checks.whole_number(name, getattr(self, name), lo, hi) for name, lo, hi in limits})


def time_embedding(t: torch.Tensor) -> torch.Tensor:
    """(N,) times in [0, 1] -> (N, 2·FREQS) sines and cosines of 2^k π t."""
    angles = t[:, None] * (2.0 ** torch.arange(FREQS)) * math.pi
    return torch.cat([angles.sin(), angles.cos()], 1)


class Flow2D:
    """A velocity field v(x, t) being trained on ``target`` by conditional flow matching."""

    def __init__(self, target, config: FlowConfig = FlowConfig()):
        self.config, self.target = config.validated(), target
        self.rng = torch.Generator().manual_seed(config.seed)
        h = config.hidden
        init = torch.Generator().manual_seed(config.seed)  # never the process-wide RNG (studio.lab.gan.linear)
        self.net = torch.nn.Sequential(linear(2 + 2 * FREQS, h, init), torch.nn.SiLU(), linear(h, h, init),
                                       torch.nn.SiLU(), linear(h, h, init), torch.nn.SiLU(), linear(h, 2, init))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.steps, self.history = 0, []

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t)], 1))

    def step(self) -> dict:
        c = self.config
        x1 = self.target.sample(c.batch_size, self.rng)
        x0 = torch.randn(c.batch_size, 2, generator=self.rng)
        t = torch.rand(c.batch_size, generator=self.rng)
        xt, target = interpolant(x0, x1, t, c.path)
        loss = ((self.velocity(xt, t) - target) ** 2).mean()
        for group in self.opt.param_groups:  # cosine decay over the budget (constant at 0 after it)
            group["lr"] = c.lr * 0.5 * (1 + math.cos(math.pi * min(self.steps / c.budget, 1.0)))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.steps += 1
        self.history.append({"step": self.steps, "loss": loss.item()})
        return self.history[-1]

    @torch.no_grad()
    @torch.no_grad()  # sampling only: without it every frame built (and kept) an autograd graph of the whole ODE
    def trajectories(self, n: int, seed: int = 0, steps: int | None = None) -> torch.Tensor:
        """(steps + 1, n, 2): the ODE path of ``n`` samples from the fixed noise of ``seed`` (Heun's method)."""
        steps = steps or self.config.sample_steps
        x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
        path, h = [x], 1.0 / steps
        for i in range(steps):
            t = torch.full((n,), i * h)
            k1 = self.velocity(x, t)
            k2 = self.velocity(x + h * k1, t + h)
            x = x + h * (k1 + k2) / 2
            path.append(x)
        return torch.stack(path)

    def samples(self, n: int, seed: int = 0) -> torch.Tensor:
        return self.trajectories(n, seed)[-1]

    @torch.no_grad()
    def field(self, t: float, lim: float = 3.0, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
        """The learnt velocity at time ``t`` on an n×n grid of [-lim, lim]²: (points (n², 2), arrows (n², 2))."""
        axis = torch.linspace(-lim, lim, n)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
        return pts, self.velocity(pts, torch.full((len(pts),), float(t)))

    def recipe(self) -> dict:
        return {"target": self.target.name, **asdict(self.config), "steps": self.steps}
