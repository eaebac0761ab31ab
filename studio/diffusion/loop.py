"""The one reverse-diffusion loop, for pixel and latent models alike; the scheduler's ``step`` is called here only.

Two things vary between the Diffusion tab's pixel models and text to image's latent ones, and each is passed in:

* **the conditioning**: a ``predict(x_in, t) -> (ε̂_c, ε̂_u)`` function: the conditional and the unconditional noise
  prediction (a class label and the "no class" label; a prompt's and a negative prompt's hidden states), or
  ``(ε̂, None)`` when the run makes one prediction a step. The loop combines them with classifier-free guidance
  (Ho & Salimans 2022): ε̂ = ε̂_u + w (ε̂_c − ε̂_u);
* **the space**: pixels in [−1, 1], whose x̂₀ is clipped to that range (``clip_x0``, as DDPM does), or an
  autoencoder's latent, which has no range (the engine pictures its ẑ₀ through the decoder after the loop).

The rest is the same for both and written once: a fresh diffusers scheduler per run from the model's config,
img2img's shortened schedule (SDEdit: only the last ``int(strength · S)`` steps run, as diffusers' img2img pipelines
do), per-image noise for the stochastic schedulers (image i's generator is seeded ``seed_i + 1,000,003``, so a picture
depends only on its own seed, never on its batch), ᾱ_t of each evaluation (σ-parameterised schedulers such as Euler
and Heun keep x = x₀ + σ ε, and ᾱ = 1 / (1 + σ²)), Heun's second evaluation per step, and what is kept of each step:
x_t in the DDPM scale (what the UNet sees, so frames from every scheduler compare directly), ε̂, and
x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t.

Behaviours the two loops once chose apart, chosen here once:

* DDIM recomputes ε̂ from x̂₀ (``use_clipped_model_output``) exactly when its config clips x̂₀ (``clip_sample``):
  without it the clipped x̂₀ and ε̂ disagree and guided runs drift (on mnist-ddpm, 50 DDIM steps at w = 2 drew the
  digit asked 31 % of the time, 100 % with it); a latent model's DDIM does not clip (Stable Diffusion's does not
  either), so there it changes nothing and the loop stays the pipeline's;
* η is passed to a scheduler whose ``step`` takes it (DDIM), and only for the schedulers the page offers it for.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch

from studio.checks import number, whole_number
from studio.config import Settings
from studio.device import make_generator, offset_seed, resolve_seed
from studio.i18n import N_
from studio.serving.gate import interleave

ETA_SCHEDULERS = ("DDIM",)  # schedulers whose step takes η
# Names shown in the studio -> diffusers classes.
SCHEDULERS = {
    "DDPM": "DDPMScheduler",
    "DDIM": "DDIMScheduler",
    "DPM-Solver++ 2M": "DPMSolverMultistepScheduler",
    "Euler": "EulerDiscreteScheduler",
    "Euler ancestral": "EulerAncestralDiscreteScheduler",
    "Heun": "HeunDiscreteScheduler",
    "UniPC": "UniPCMultistepScheduler",
}
SCHEDULER_NOTES = {
    "DDPM": N_("ancestral sampling of the DDPM paper: each step samples x_{t-1} ~ p(x_{t-1} | x_t), adding fresh noise. Needs many steps."),
    "DDIM": N_("deterministic at η = 0: jumps along the predicted x̂₀ (clipped to [-1, 1], with ε̂ recomputed to match); η = 1 adds DDPM-like noise back."),
    "DPM-Solver++ 2M": N_("a second-order multistep ODE solver on x̂₀ (Lu et al. 2022): good digits in 10–25 steps."),
    "Euler": N_("first-order ODE solver in σ (Karras et al. 2022): x ← x + (σ_next − σ)·ε̂."),
    "Euler ancestral": N_("Euler step to a lower σ, then fresh noise back up: never converges to one image as steps grow."),
    "Heun": N_("second-order: an Euler step, then a correction with a second model evaluation (2 per step)."),
    "UniPC": N_("a unified predictor-corrector multistep solver (Zhao et al. 2023): strong at very few steps."),
}
MAX_GUIDANCE = 20.0  # the slider's end: a property of the maths shown, not a resource limit (those are in Settings)
STEP_NOISE_OFFSET = 1_000_003  # image i's generator for a stochastic step: seed_i + this
# Resource limits come from Settings (STUDIO_MAX_DIFFUSION_STEPS, STUDIO_MAX_BATCH); a call outside the app gets the
# unhosted defaults.
_LIMITS = Settings()


def scheduler_name(name: str) -> str:
    """A studio scheduler name (or its diffusers class name) -> the studio name; clear error otherwise."""
    if name in SCHEDULERS:
        return name
    for short, cls in SCHEDULERS.items():
        if name == cls:
            return short
    raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {name!r}.")


def make_scheduler(bundle, name: str):
    """A fresh scheduler (schedulers keep state) of class ``name``, from the model's saved config."""
    import diffusers

    cls = getattr(diffusers, SCHEDULERS[scheduler_name(name)])
    config = {k: v for k, v in bundle.scheduler_config.items() if not k.startswith("_")}
    return cls.from_config(config)


def nfe(name: str, steps: int, guidance: float | None = None) -> int:
    """Model evaluations per image for ``steps`` steps (Heun: 2 per step but the last); ×2 with guidance."""
    n = 2 * steps - 1 if scheduler_name(name) == "Heun" else steps
    return n * (2 if guidance is not None and guided(guidance) else 1)


def steps_for_nfe(name: str, target: int) -> int:
    """The number of steps that spends ``target`` model evaluations (Heun: (target + 1) // 2)."""
    return max(1, (target + 1) // 2) if scheduler_name(name) == "Heun" else target


def guided(w: float) -> bool:
    """Does guidance scale w need both the conditional and the unconditional prediction?"""
    return w not in (0.0, 1.0)


def check_run(scheduler, steps, guidance, batch, eta, *, max_steps: int = _LIMITS.max_diffusion_steps,
              max_batch: int = _LIMITS.max_batch):
    """The settings every run shares, checked: (scheduler name, steps, guidance w, batch, η)."""
    name = scheduler_name(scheduler)
    steps = whole_number("steps", steps, 1, max_steps)
    guidance = number("guidance w", guidance, 0, MAX_GUIDANCE)
    batch = whole_number("batch size", batch, 1, max_batch)
    eta = number("η", eta, 0, 1)
    if name == "Heun" and steps < 2:
        raise ValueError("Heun needs at least 2 steps.")
    return name, steps, guidance, batch, eta


def x0_from(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar: float, *, clip: bool) -> torch.Tensor:
    """x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t (Ho et al. 2020, eq. 15 solved for x₀), clipped to [−1, 1] for pixels."""
    x0 = (x_t.float() - math.sqrt(1 - alpha_bar) * eps.float()) / math.sqrt(alpha_bar)
    return x0.clamp(-1, 1) if clip else x0


@dataclass
class Plan:
    """A run's scheduler, set up: the timesteps it will visit and how its ``step`` is called."""

    name: str
    scheduler: object
    timesteps: torch.Tensor
    kept_steps: int  # the steps the run will keep (all, or img2img's last int(strength · S))
    step_kwargs: dict
    alphas_cumprod: torch.Tensor  # ᾱ_t for t = 0..T-1 (float64)
    num_train_timesteps: int

    @property
    def init_noise_sigma(self) -> float:
        return float(self.scheduler.init_noise_sigma)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """img2img's start: the clean x₀ noised to the first timestep the run visits."""
        return self.scheduler.add_noise(x0, noise, self.timesteps[:1].repeat(len(x0)).to(x0.device))


def plan(bundle, name: str, steps: int, seeds: list[int], eta: float, *, strength: float | None = None) -> Plan:
    """A fresh scheduler of class ``name`` from the model's config, set to ``steps`` steps; with ``strength``
    (img2img), cut to the last ``int(strength · steps)`` of them."""
    sched = make_scheduler(bundle, name)
    T = int(sched.config.num_train_timesteps)
    if steps > T:
        raise ValueError(f"steps must be at most {T}: this model was trained with {T} noise levels.")
    sched.set_timesteps(steps, device="cpu")
    timesteps, kept = sched.timesteps, steps
    if strength is not None:
        kept = min(int(steps * strength), steps)
        if kept < 1:
            raise ValueError(f"strength {strength:g} of {steps} steps runs no step: raise the strength or the steps.")
        start = (steps - kept) * sched.order
        timesteps = sched.timesteps[start:]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(start)
    takes = inspect.signature(sched.step).parameters
    kwargs = {}
    if name in ETA_SCHEDULERS and "eta" in takes:
        kwargs["eta"] = eta
    if "use_clipped_model_output" in takes and sched.config.get("clip_sample", False):
        kwargs["use_clipped_model_output"] = True
    if "generator" in takes:
        kwargs["generator"] = [make_generator(offset_seed(s, STEP_NOISE_OFFSET)) for s in seeds]
    return Plan(name, sched, timesteps, kept, kwargs, sched.alphas_cumprod.double(), T)


@dataclass
class Trajectory:
    """What a run keeps of each step (CPU): x_t, x̂₀, ε̂ (float16), and when guided ε̂_c and ε̂_u (float16); the
    timesteps and ᾱ_t; ``final``: the sample after the last step."""

    x_t: list = field(default_factory=list)
    x0_hat: list = field(default_factory=list)
    eps_hat: list = field(default_factory=list)
    eps_cond: list = field(default_factory=list)
    eps_uncond: list = field(default_factory=list)
    timesteps: list = field(default_factory=list)
    alpha_bar: list = field(default_factory=list)
    final: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def stacked(self, name: str) -> torch.Tensor | None:
        xs = getattr(self, name)
        return torch.stack(xs) if xs else None


@dataclass
class Step:
    """One kept step, as streamed: x_t (DDPM scale), x̂₀ and ε̂ (float32, CPU) and its t."""

    k: int  # 1-based: the steps done
    x_t: torch.Tensor
    x0_hat: torch.Tensor
    eps_hat: torch.Tensor
    t: float


def denoise(plan: Plan, x: torch.Tensor, predict: Callable, *, guidance: float, clip_x0: bool,
            keep: Trajectory):
    """The reverse process from ``x`` (already at the scheduler's starting noise level): per step, ε̂ from
    ``predict`` (guided when it gives two predictions), the scheduler's update, and the step kept in ``keep``.
    Yields a :class:`Step` after each kept step; ``keep.final`` is the sample at the end."""
    sched = plan.scheduler
    sigma_param = plan.init_noise_sigma > 1.0  # Euler/Heun keep x = x₀ + σε
    device = x.device
    for t in plan.timesteps:
        interleave()  # served: another user's work may go between two steps (studio.serving; else nothing)
        # 1. the network's input: x_t in the DDPM scale (the identity for DDPM/DDIM/DPM-Solver/UniPC)
        x_in = sched.scale_model_input(x, t)
        # 2. ε̂ = ε̂_u + w (ε̂_c − ε̂_u), or the one prediction
        eps_c, eps_u = predict(x_in, t.to(device))
        eps = eps_c if eps_u is None else eps_u + guidance * (eps_c - eps_u)
        # Heun evaluates twice per step: the first (predictor) evaluation starts a step and is the one kept
        starts_step = getattr(sched, "state_in_first_order", True)
        # 3. ᾱ_t of this evaluation: from σ for sigma-parameterised schedulers (ᾱ = 1 / (1 + σ²)), else the table
        if sigma_param:
            sigma = float(sched.sigmas[sched.step_index])
            abar = 1.0 / (1.0 + sigma * sigma)
        else:
            abar = float(plan.alphas_cumprod[int(t)])
        # 4. x_{t−Δ}: the scheduler's update from (ε̂, t, x_t)
        x = sched.step(eps, t, x, **plan.step_kwargs).prev_sample
        if not starts_step:
            continue  # Heun's corrector evaluation: it finishes the step the predictor frame already shows
        # 5. keep the step (copies: a scheduler may reuse its buffers)
        x_keep = x_in.detach().to("cpu", torch.float32, copy=True)
        eps_keep = eps.detach().to("cpu", torch.float32, copy=True)
        x0 = x0_from(x_keep, eps_keep, abar, clip=clip_x0)
        keep.x_t.append(x_keep)
        keep.x0_hat.append(x0)
        keep.eps_hat.append(eps_keep.half())
        if eps_u is not None:
            keep.eps_cond.append(eps_c.float().cpu().half())
            keep.eps_uncond.append(eps_u.float().cpu().half())
        keep.timesteps.append(float(t))
        keep.alpha_bar.append(abar)
        yield Step(keep.steps, x_keep, x0, eps_keep, float(t))
    # 6. the result: x₀ (sigma-parameterised samples end at σ = 0, where the two scales agree)
    keep.final = x.float().cpu()


@dataclass(kw_only=True)
class DenoisingRun:
    """What every run keeps, pixel or latent. Frame k (0..S-1) is the state entering step k; ``x_t[S]`` is the
    result's state. ``x0_hat[k]`` is step k's x̂₀ *as a picture* (a pixel run's own; a latent run's decoded), so
    strips, the scrubber and the GIF read both alike; ``space`` says which kind of run it is."""

    space: ClassVar[str] = "pixels"  # "pixels" | "latent"
    clip_x0: ClassVar[bool] = True

    scheduler: str
    steps: int
    nfe: int  # model evaluations per image, guidance included
    guidance: float
    seeds: list[int]
    timesteps: list[float]  # t of each frame
    alpha_bar: list[float]  # ᾱ_t of each frame
    eps_hat: torch.Tensor  # (S, B, C, h, w) float16, the guided prediction
    x_T: torch.Tensor | None = None  # (B, C, h, w) the starting noise N(0, I), before any scheduler scaling
    eps_cond: torch.Tensor | None = None  # (S, B, C, h, w) float16, when guided
    eps_uncond: torch.Tensor | None = None
    num_train_timesteps: int = 1000
    settings: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)  # the model's ᾱ_t and log-SNR for t = 0..T-1 (:func:`curve`)

    @property
    def states(self) -> torch.Tensor:
        """x_t entering each step, then the final state: (S + 1, B, C, h, w)."""
        return self.x_t

    def x0_from(self, k: int, eps: torch.Tensor) -> torch.Tensor:
        """x̂₀ at frame k had the network predicted ``eps`` (in the run's own space: a latent is not pictured)."""
        return x0_from(self.states[k], eps, self.alpha_bar[k], clip=self.clip_x0)

    def picture(self, x0: torch.Tensor) -> torch.Tensor:
        """x̂₀ (in the run's space) as a picture: the identity for pixels."""
        return x0.float()

    def guidance_view(self, k: int) -> dict:
        """At frame k: (x̂₀ as a picture, ε̂) of the conditional, unconditional and guided predictions."""
        if not 0 <= k < self.steps:
            raise ValueError(f"step must be in 1..{self.steps}, got {k + 1}.")
        if self.eps_cond is None:
            raise ValueError("this run was not guided (w = 0 or 1, or unconditional): there is only one prediction. "
                             "Set guidance w to another value, e.g. 3, and run again.")
        cond, uncond = self.picture(torch.cat([self.x0_from(k, self.eps_cond[k]),
                                               self.x0_from(k, self.eps_uncond[k])])).chunk(2)
        return {"cond": (cond, self.eps_cond[k].float()), "uncond": (uncond, self.eps_uncond[k].float()),
                "guided": (self.x0_hat[k].float(), self.eps_hat[k].float())}


def curve(ab: torch.Tensor) -> dict:
    """The model's noise schedule for the page: ᾱ_t and log-SNR = log(ᾱ / (1 − ᾱ)) for t = 0..T-1."""
    ab = ab.double()
    return {"t": list(range(len(ab))), "alpha_bar": ab.tolist(), "log_snr": torch.log(ab / (1 - ab)).tolist()}


def check_compare(schedulers, nfe_budget, seed, batch, *, max_steps: int, max_batch: int):
    """A scheduler comparison's settings checked: (scheduler names, model evaluations per image, seed, batch)."""
    names = [scheduler_name(s) for s in schedulers]
    if not 1 <= len(names) <= 3:
        raise ValueError(f"compare takes 1 to 3 schedulers, got {len(names)}.")
    return (names, whole_number("model evaluations (NFE)", nfe_budget, 2, max_steps), resolve_seed(seed),
            whole_number("batch size", batch, 1, max_batch))


def finished(frames):
    """The last item of an engine's ``iterate`` stream, ``(k, total, run)``: the finished run (the previews before
    it are dropped as they come)."""
    out = None
    for _, _, out in frames:
        pass
    return out
