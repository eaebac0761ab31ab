"""A small GAN on 2-D points, trained live: the lesson of GAN Lab, on the studio's own engine.

Generator G: z ~ N(0, I₂) → MLP → a point; discriminator D: a point → MLP → a logit (a critic score for WGAN-GP).
One *step* is ``d_steps`` discriminator updates then one generator update, each on a fresh batch. Losses:

* ``minimax`` (Goodfellow et al. 2014): D maximises log D(x) + log(1 − D(G(z))); G minimises log(1 − D(G(z))),
  which saturates when D wins early;
* ``non-saturating``: the same D; G maximises log D(G(z)) instead (the paper's practical variant);
* ``hinge`` (Lim and Ye 2017; Miyato et al. 2018): D minimises relu(1 − D(x)) + relu(1 + D(G(z))); G minimises −D(G(z));
* ``wgan-gp`` (Gulrajani et al. 2017): a critic with a gradient penalty λ(‖∇D(x̂)‖ − 1)², λ = 10, on points
  between real and generated ones; G minimises −D(G(z)).

Everything random (weights, batches, noise) comes from one ``torch.Generator`` seeded by the config: the same
config replays the same training, step for step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from studio import checks
from studio.serving.gate import interleave

LOSSES = ("minimax", "non-saturating", "hinge", "wgan-gp")


@dataclass(frozen=True)
class GANConfig:
    loss: str = "non-saturating"
    lr_g: float = 1e-3  # the default Play covers 6 of the 8 ring modes at 2,000 steps (2e-3: 4; tests/test_lab.py)
    lr_d: float = 1e-3
    d_steps: int = 1
    batch_size: int = 256
    hidden: int = 64
    seed: int = 0

    def validated(self) -> "GANConfig":
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}.")
        for name, lo, hi in (("lr_g", 1e-5, 0.1), ("lr_d", 1e-5, 0.1)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and lo <= v <= hi):
                raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {v!r}.")
        return replace(self, **{name: checks.whole_number(name, getattr(self, name), lo, hi)
                                for name, lo, hi in (("d_steps", 1, 10), ("batch_size", 8, 4096), ("hidden", 8, 512))})


def linear(n_in: int, n_out: int, generator: torch.Generator) -> torch.nn.Linear:
    """``nn.Linear(n_in, n_out)`` with PyTorch's default initialisation drawn from ``generator``, never from the
    process-wide RNG: the server trains many users' models at once, and seeding the global RNG for one would move
    another's. (The same draws in the same order as ``torch.manual_seed(seed)`` then ``nn.Linear``: the weights
    are those of the global-seed recipe.)"""
    layer = torch.nn.utils.skip_init(torch.nn.Linear, n_in, n_out)  # no initialisation, no RNG touched
    torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)  # as Linear.reset_parameters
    bound = 1 / math.sqrt(n_in)
    torch.nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def mlp(n_in: int, n_out: int, hidden: int, generator: torch.Generator) -> torch.nn.Sequential:
    return torch.nn.Sequential(linear(n_in, hidden, generator), torch.nn.LeakyReLU(0.2),
                               linear(hidden, hidden, generator), torch.nn.LeakyReLU(0.2),
                               linear(hidden, hidden, generator), torch.nn.LeakyReLU(0.2),
                               linear(hidden, n_out, generator))


class GAN2D:
    """A GAN being trained on ``target`` (``studio.lab.targets.Target``) with ``config``."""

    def __init__(self, target, config: GANConfig = GANConfig()):
        self.config, self.target = config.validated(), target
        self.rng = torch.Generator().manual_seed(config.seed)
        init = torch.Generator().manual_seed(config.seed)  # the weights' own generator (see linear)
        self.G, self.D = mlp(2, 2, config.hidden, init), mlp(2, 1, config.hidden, init)
        betas = (0.0, 0.9) if config.loss == "wgan-gp" else (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=betas)
        self.steps, self.history = 0, []

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, 2, generator=self.rng)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss, dr, df = self.config.loss, self.D(real), self.D(fake)
        if loss in ("minimax", "non-saturating"):
            return F.softplus(-dr).mean() + F.softplus(df).mean()  # −log σ(D(x)) − log(1 − σ(D(G(z))))
        if loss == "hinge":
            return F.relu(1 - dr).mean() + F.relu(1 + df).mean()
        t = torch.rand(len(real), 1, generator=self.rng)
        between = (t * real + (1 - t) * fake).requires_grad_(True)
        grad, = torch.autograd.grad(self.D(between).sum(), between, create_graph=True)
        return df.mean() - dr.mean() + 10 * ((grad.norm(dim=1) - 1) ** 2).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        df = self.D(fake)
        if self.config.loss == "minimax":
            return -F.softplus(df).mean()  # minimise log(1 − σ(D(G(z)))) = −softplus(D)
        if self.config.loss == "non-saturating":
            return F.softplus(-df).mean()  # minimise −log σ(D(G(z)))
        return -df.mean()

    def d_step(self) -> float:
        real = self.target.sample(self.config.batch_size, self.rng)
        with torch.no_grad():
            fake = self.G(self.noise(self.config.batch_size))
        loss = self.d_loss(real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return loss.item()

    def g_step(self) -> float:
        loss = self.g_loss(self.G(self.noise(self.config.batch_size)))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return loss.item()

    def step(self) -> dict:
        """``d_steps`` discriminator updates, then one generator update."""
        d = []
        for _ in range(self.config.d_steps):
            d.append(self.d_step())
            interleave()  # served, another user's work may go between two updates (studio.serving; else nothing)
        g = self.g_step()
        self.steps += 1
        self.history.append({"step": self.steps, "d_loss": d[-1], "g_loss": g})
        return self.history[-1]

    @torch.no_grad()
    def samples(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` generated points (n, 2) from a fixed noise (``seed``): the same points move as G learns."""
        return self.G(torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)))

    @torch.no_grad()
    def surface(self, lim: float = 3.0, n: int = 64) -> torch.Tensor:
        """D over an n×n grid of [-lim, lim]² (rows: y from -lim up): σ(D) for the classic losses, D otherwise."""
        axis = torch.linspace(-lim, lim, n)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        out = self.D(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)).reshape(n, n)
        return torch.sigmoid(out) if self.config.loss in ("minimax", "non-saturating") else out

    def g_gradient(self, points: torch.Tensor) -> torch.Tensor:
        """The direction the generator's loss moves each point (−∂loss/∂x per point, (N, 2)): the arrows."""
        x = points.detach().clone().requires_grad_(True)
        grad, = torch.autograd.grad(self.g_loss(x) * len(x), x)
        return -grad

    def recipe(self) -> dict:
        return {"target": self.target.name, **asdict(self.config), "steps": self.steps}
