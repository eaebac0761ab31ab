"""The reverse diffusion loop, written out, keeping every step.

Notation (Ho et al. 2020, https://arxiv.org/abs/2006.11239; Song et al. 2021, https://arxiv.org/abs/2010.02502):

* forward process  q(x_t | x₀) = N(√ᾱ_t x₀, (1 − ᾱ_t) I),  ᾱ_t = ∏_{s≤t} (1 − β_s);
* the network predicts the noise:  ε̂ = ε_θ(x_t, t, y);
* the clean image it implies:      x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t;
* classifier-free guidance (Ho & Salimans 2022, https://arxiv.org/abs/2207.12598):
      ε̂ = ε_θ(x_t, t, ∅) + w · (ε_θ(x_t, t, y) − ε_θ(x_t, t, ∅)),  w = 1: plain conditional, w = 0: unconditional.

The step from x_t to the next, less noisy sample is the scheduler's job: a fresh diffusers scheduler per run,
built from the model's saved config (``SchedulerClass.from_config``), so DDPM, DDIM, DPM-Solver++, Euler,
Euler ancestral, Heun and UniPC all run the same model. Sigma-parameterised schedulers (Euler, Heun) keep
their sample as x = x₀ + σ ε with σ² = (1 − ᾱ)/ᾱ; the studio stores every x_t in the DDPM scale
(x/√(1 + σ²), what the UNet sees), so frames from every scheduler look alike and compare directly.

Noise is drawn on the CPU from one generator per image (image i uses seed + i), so a picture depends only on
its seed, not on the batch it was in, and the CPU and a GPU start from the same x_T.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, replace

import torch

from studio.checks import number, whole_number
from studio.config import Settings
from studio.device import make_generator, offset_seed, resolve_seed
from studio.i18n import N_
from studio.recipe import engine_action
from studio.serving.gate import interleave

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
ETA_SCHEDULERS = ("DDIM",)  # schedulers whose step takes η
DIGIT_CHOICES = ("any", "none", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
MAX_GUIDANCE = 20.0  # the slider's end: a property of the maths shown, not a resource limit (those are in Settings)
# The tab's defaults, and the setting the card's quality figure is measured at (studio/diffusion/evaluate.py): a
# call with the defaults draws what the tab draws.
DEFAULTS = {"scheduler": "Euler ancestral", "steps": 20, "guidance": 1.0}
COMPARE_DEFAULTS = {"schedulers": ("DDIM", "DPM-Solver++ 2M", "Heun"), "nfe_budget": 10}
# Resource limits come from Settings (STUDIO_MAX_DIFFUSION_STEPS, STUDIO_MAX_BATCH); a call outside the app
# gets the unhosted defaults.
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


def check_number(name: str, value, lo: float, hi: float, *, whole: bool = False):
    return whole_number(name, value, lo, hi) if whole else number(name, value, lo, hi)


def check_digit(bundle, digit) -> int | str | None:
    """'any' -> "any" (each seed draws its digit), 'none' -> None (unconditional), '0'..'9' -> int."""
    text = "none" if digit is None else str(digit).strip().lower()
    if text in ("none", "unconditional", ""):
        return None
    if bundle.num_classes == 0:
        raise ValueError("this model is unconditional (it was not trained with class labels): choose digit 'none'.")
    if text == "any":
        return "any"
    if not text.isdigit() or not 0 <= int(text) < bundle.num_classes or str(int(text)) != text:
        raise ValueError(f"digit must be 'any', 'none' or 0..{bundle.num_classes - 1}, got {digit!r}.")
    return int(text)


@dataclass
class DiffusionRun:
    """Everything a run produced. Frame k (0..S-1) is the state entering step k; ``x_t[S]`` is the result.

    Tensors are on the CPU, images in [-1, 1] model units, shape (frames, B, C, H, W); ε̂ is stored in float16.
    """

    scheduler: str
    steps: int
    nfe: int  # model evaluations per image, guidance included
    guidance: float
    seeds: list[int]
    labels: list  # per image: int class or None (unconditional)
    timesteps: list[float]  # t of each frame
    alpha_bar: list[float]  # ᾱ_t of each frame
    x_t: torch.Tensor  # (S + 1, B, C, H, W)
    x0_hat: torch.Tensor  # (S, B, C, H, W), clipped to [-1, 1]
    eps_hat: torch.Tensor  # (S, B, C, H, W), the guided prediction
    x_T: torch.Tensor | None = None  # (B, C, H, W) the initial noise N(0, I), before any scheduler scaling
    eps_cond: torch.Tensor | None = None  # (S, B, C, H, W) when guided
    eps_uncond: torch.Tensor | None = None
    num_train_timesteps: int = 1000
    settings: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)  # the model's ᾱ_t and log-SNR for t = 0..T-1 (_curve)

    @property
    def images(self) -> torch.Tensor:
        """The final samples (B, C, H, W) in [-1, 1]."""
        return self.x_t[-1].float().clamp(-1, 1)

    def rows(self, lo: int, hi: int, *, digit) -> "DiffusionRun":
        """Images lo..hi-1 of this run, as a run of their own (what they would be alone: each image depends only
        on its seed and label), its settings naming ``digit`` and its own batch size."""
        def cut(t):
            return None if t is None else t[:, lo:hi].clone()

        return replace(self, seeds=self.seeds[lo:hi], labels=self.labels[lo:hi], x_t=cut(self.x_t),
                       x0_hat=cut(self.x0_hat), eps_hat=cut(self.eps_hat),
                       x_T=None if self.x_T is None else self.x_T[lo:hi].clone(), eps_cond=cut(self.eps_cond),
                       eps_uncond=cut(self.eps_uncond),
                       settings={**self.settings, "digit": str(digit), "batch": hi - lo})

    def x0_from(self, k: int, eps: torch.Tensor) -> torch.Tensor:
        """x̂₀ = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t at frame k, clipped to [-1, 1]."""
        ab = self.alpha_bar[k]
        return ((self.x_t[k].float() - math.sqrt(1 - ab) * eps.float()) / math.sqrt(ab)).clamp(-1, 1)

    def guidance_view(self, k: int) -> dict:
        """At frame k: x̂₀ and ε̂ of the conditional, unconditional and guided predictions."""
        if not 0 <= k < self.steps:
            raise ValueError(f"step must be in 1..{self.steps}, got {k + 1}.")
        if self.eps_cond is None:
            raise ValueError("this run was not guided (w = 0 or 1, or unconditional): there is only one prediction. "
                             "Set guidance w to another value, e.g. 3, and run again.")
        return {"cond": (self.x0_from(k, self.eps_cond[k]), self.eps_cond[k].float()),
                "uncond": (self.x0_from(k, self.eps_uncond[k]), self.eps_uncond[k].float()),
                "guided": (self.x0_hat[k].float(), self.eps_hat[k].float())}


def drawn_digits(seeds: list[int], num_classes: int = 10) -> list[int]:
    """Digit "any": the digit each seed draws, after its noise, from its own generator (the Families tab asks the
    text-to-image model for the same digits, so the two diffusion rows draw the same digit per picture)."""
    return [int(torch.randint(num_classes, (1,), generator=make_generator(offset_seed(s, 7_919_000)))) for s in seeds]


def _labels_for(bundle, digit, seeds: list[int]) -> list:
    d = check_digit(bundle, digit)
    if d == "any":
        return drawn_digits(seeds, bundle.num_classes)
    return [d] * len(seeds)


def initial_noise(bundle, seeds: list[int]) -> torch.Tensor:
    """x_T ~ N(0, I) for each seed, drawn on the CPU: (B, C, H, W)."""
    shape = (bundle.in_channels, bundle.sample_size, bundle.sample_size)
    return torch.stack([torch.randn(shape, generator=make_generator(s)) for s in seeds])


def check_run(bundle, scheduler, steps, guidance, batch, eta, *, max_steps=_LIMITS.max_diffusion_steps,
              max_batch=_LIMITS.max_batch):
    name = scheduler_name(scheduler)
    steps = check_number("steps", steps, 1, max_steps, whole=True)
    guidance = check_number("guidance w", guidance, 0, MAX_GUIDANCE)
    batch = check_number("batch size", batch, 1, max_batch, whole=True)
    eta = check_number("η", eta, 0, 1)
    if name == "Heun" and steps < 2:
        raise ValueError("Heun needs at least 2 steps.")
    return name, steps, guidance, batch, eta


@torch.inference_mode()  # torch enters the mode around each resumption of the generator, in any thread
def iterate(bundle, *, seed, scheduler: str = DEFAULTS["scheduler"], steps: int = DEFAULTS["steps"],
            guidance: float = DEFAULTS["guidance"], digit="any", batch: int = 1, eta: float = 0.0,
            noise: torch.Tensor | None = None, max_steps: int = _LIMITS.max_diffusion_steps,
            max_batch: int = _LIMITS.max_batch, seeds: list[int] | None = None, labels: list | None = None,
            init_image: torch.Tensor | None = None, strength: float = 1.0):
    """The reverse process, one step at a time. Yields ``(k, S, frame)`` after each step (frame: a dict with
    x_t, x̂₀, ε̂ of that step, for previews) and finally ``(S, S, run)`` with the whole ``DiffusionRun``.

    ``init_image`` (B or 1, C, H, W) in [-1, 1] and ``strength`` in (0, 1]: img2img (SDEdit, Meng et al. 2021):
    the picture noised to the level of step ``S − int(strength·S)`` with the seed's noise
    (``scheduler.add_noise``), then only the remaining steps run, as diffusers' img2img pipelines do.

    ``seeds`` and ``labels`` (one per image, both given) replace ``seed``, ``batch`` and ``digit``: several users'
    images in one run (:func:`iterate_many`); each image depends only on its own seed and label."""
    if seeds is not None:
        batch, max_batch = len(seeds), max(len(seeds), max_batch)
    name, steps, guidance, batch, eta = check_run(bundle, scheduler, steps, guidance, batch, eta,
                                                  max_steps=max_steps, max_batch=max_batch)
    if seeds is None:
        seed = resolve_seed(seed)
        seeds = [offset_seed(seed, i) for i in range(batch)]
        labels = _labels_for(bundle, digit, seeds)
    unet = bundle.unet
    device, dtype = next(unet.parameters()).device, next(unet.parameters()).dtype
    sched = make_scheduler(bundle, name)
    T = int(sched.config.num_train_timesteps)
    if steps > T:
        raise ValueError(f"steps must be at most {T}: this model was trained with {T} noise levels.")
    sched.set_timesteps(steps, device="cpu")
    alphas_cumprod = sched.alphas_cumprod.double()  # ᾱ_t for t = 0..T-1
    sigma_param = float(sched.init_noise_sigma) > 1.0  # Euler/Heun keep x = x₀ + σε
    timesteps, kept_steps = sched.timesteps, steps
    if init_image is not None:
        strength = check_number("strength", strength, 0, 1)
        kept_steps = min(int(steps * strength), steps)
        if kept_steps < 1:
            raise ValueError(f"strength {strength:g} of {steps} steps runs no step: raise the strength or the steps.")
        start = (steps - kept_steps) * sched.order
        timesteps = sched.timesteps[start:]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(start)
    step_kwargs = {"eta": eta} if name in ETA_SCHEDULERS else {}
    if name == "DDIM":
        # DDIM clips x̂₀ to [-1, 1] (clip_sample); without recomputing ε̂ from the clipped x̂₀ the two disagree and
        # guided runs drift: on mnist-ddpm, 50 DDIM steps at w = 2 drew the digit asked 31% of the time, 100% with it.
        step_kwargs["use_clipped_model_output"] = True
    gens = [make_generator(offset_seed(s, 1_000_003)) for s in seeds]  # per-image noise for stochastic steps
    if "generator" in inspect.signature(sched.step).parameters:
        step_kwargs["generator"] = gens

    conditional = [lab is not None for lab in labels]
    use_cond = bundle.num_classes > 0 and any(conditional) and guidance != 0.0
    use_guidance = use_cond and guided(guidance)
    null = bundle.num_classes  # the "no class" label
    y = torch.tensor([null if lab is None else lab for lab in labels], device=device)
    y_null = torch.full_like(y, null)

    # 1. x_T ~ N(0, I) (drawn on the CPU), scaled to the scheduler's starting noise level
    x_T = (initial_noise(bundle, seeds) if noise is None else noise.clone()).to(device, dtype)
    if init_image is None:
        x = x_T * sched.init_noise_sigma
    else:  # SDEdit: the picture noised to where the remaining steps start
        picture = init_image.float().expand(len(seeds), -1, -1, -1).to(device, dtype)
        x = sched.add_noise(picture, x_T, timesteps[:1].repeat(len(seeds)).to(device))
    frames_x, frames_x0, frames_eps, frames_c, frames_u, ts, abars = [], [], [], [], [], [], []
    k = 0
    for t in timesteps:
        interleave()  # served: another user's work may go between two steps (studio.serving; else nothing)
        # 2. the network's input: x_t in the DDPM scale (identity for DDPM/DDIM/DPM-Solver/UniPC)
        x_in = sched.scale_model_input(x, t)
        t_model = t.to(device)
        # 3. ε̂ = ε_θ(x_t, t, ∅) + w (ε_θ(x_t, t, y) − ε_θ(x_t, t, ∅)): one batched call for both halves
        if use_guidance:
            both = unet(torch.cat([x_in, x_in]), t_model, class_labels=torch.cat([y, y_null])).sample
            eps_c, eps_u = both.chunk(2)
            eps = eps_u + guidance * (eps_c - eps_u)
        elif bundle.num_classes > 0:
            eps_c = eps_u = None
            eps = unet(x_in, t_model, class_labels=y if use_cond else y_null).sample
        else:
            eps_c = eps_u = None
            eps = unet(x_in, t_model).sample
        # Heun evaluates twice per step: the first (predictor) evaluation starts a step and is the one kept
        starts_step = getattr(sched, "state_in_first_order", True)
        # 4. ᾱ_t of this evaluation: from σ for sigma-parameterised schedulers (ᾱ = 1 / (1 + σ²)), else the table
        if sigma_param:
            sigma = float(sched.sigmas[sched.step_index])
            abar = 1.0 / (1.0 + sigma * sigma)
        else:
            abar = float(alphas_cumprod[int(t)])
        # 5. x_{t−Δ} = the scheduler's update from (ε̂, t, x_t)
        x = sched.step(eps, t, x, **step_kwargs).prev_sample
        if not starts_step:
            continue  # Heun's corrector evaluation: it finishes the step the predictor frame already shows
        # 6. keep the step: x_t, ε̂ and x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t (clipped to [-1, 1], as DDPM does)
        x_keep = x_in.detach().to("cpu", torch.float32, copy=True)  # copies: a scheduler may reuse its buffers
        eps_keep = eps.detach().to("cpu", torch.float32, copy=True)
        x0 = ((x_keep - math.sqrt(1 - abar) * eps_keep) / math.sqrt(abar)).clamp(-1, 1)
        frames_x.append(x_keep)
        frames_x0.append(x0)
        frames_eps.append(eps_keep.half())
        if use_guidance:
            frames_c.append(eps_c.float().cpu().half())
            frames_u.append(eps_u.float().cpu().half())
        ts.append(float(t))
        abars.append(abar)
        k += 1
        yield k, kept_steps, {"x_t": x_keep, "x0_hat": x0, "eps_hat": eps_keep, "t": float(t)}
    # 7. the result: x₀ (sigma-parameterised samples end at σ = 0, where the two scales agree)
    final = x.float().cpu()
    run = DiffusionRun(
        scheduler=name, steps=k, nfe=nfe(name, k, guidance if use_guidance else None), guidance=guidance,
        seeds=seeds, labels=labels, timesteps=ts, alpha_bar=abars,
        x_t=torch.stack([*frames_x, final]), x0_hat=torch.stack(frames_x0), eps_hat=torch.stack(frames_eps),
        x_T=x_T.float().cpu(), eps_cond=torch.stack(frames_c) if use_guidance else None,
        eps_uncond=torch.stack(frames_u) if use_guidance else None,
        num_train_timesteps=int(sched.config.num_train_timesteps), schedule=_curve(alphas_cumprod),
        settings={"scheduler": name, "steps": steps, "guidance": guidance, "digit": str(digit), "batch": batch,
                  "eta": eta, **({"strength": strength} if init_image is not None else {})})
    yield k, k, run


def iterate_many(bundle, requests: list[dict], **common):
    """Several users' runs as one batch: ``requests`` each ``{"seed", "batch", "digit"}``; ``common`` the settings
    they share (scheduler, steps, guidance, eta; the digit must agree on being "none" or not: guided or not is
    decided for the whole batch). Yields, per step, one ``(k, S, frame)`` per request (its rows of the frame),
    and finally one ``(S, S, run)`` each, its ``DiffusionRun`` as if it had run alone."""
    seeds, labels, spans = [], [], []
    for req in requests:
        first = resolve_seed(req["seed"])
        own = [offset_seed(first, i) for i in range(int(req["batch"]))]
        spans.append((len(seeds), len(seeds) + len(own)))
        seeds += own
        labels += _labels_for(bundle, req["digit"], own)
    for k, total, out in iterate(bundle, seed=None, seeds=seeds, labels=labels, **common):
        if isinstance(out, DiffusionRun):
            yield [(k, total, out.rows(lo, hi, digit=req["digit"])) for (lo, hi), req in zip(spans, requests)]
        else:
            yield [(k, total, {n: (v[lo:hi] if torch.is_tensor(v) else v) for n, v in out.items()})
                   for lo, hi in spans]


def run(bundle, **kwargs) -> DiffusionRun:
    """``iterate`` to the end; returns the ``DiffusionRun``."""
    out = None
    for _, _, out in iterate(bundle, **kwargs):
        pass
    return out


@engine_action("diffusion", "run")
@torch.inference_mode()
def sample(bundle, *, seed, scheduler: str = DEFAULTS["scheduler"], steps: int = DEFAULTS["steps"],
           guidance: float = DEFAULTS["guidance"], digit="any", batch: int = 1, eta: float = 0.0) -> DiffusionRun:
    """One full run (the recipe action)."""
    return run(bundle, seed=seed, scheduler=scheduler, steps=steps, guidance=guidance, digit=digit, batch=batch,
               eta=eta)


@engine_action("diffusion", "img2img")
@torch.inference_mode()
def img2img(bundle, *, seed, heldout_index=0, source: str = "held-out digit", scheduler: str = DEFAULTS["scheduler"],
            steps: int = DEFAULTS["steps"], guidance: float = DEFAULTS["guidance"], digit="any", batch: int = 1,
            eta: float = 0.0, strength: float = 0.6) -> DiffusionRun:
    """img2img from a held-out MNIST digit (the recipe action; an upload or a drawing is not in a recipe)."""
    if source != "held-out digit" or heldout_index is None:
        raise ValueError(f"this run started from {source!r}, which a recipe does not hold; only runs from a held-out "
                         "digit can be reproduced from their recipe.")
    from studio.data import heldout_digit
    from studio.diffusion.pictures import digit_as_x0

    x, _, _ = heldout_digit(heldout_index)
    return run(bundle, seed=seed, scheduler=scheduler, steps=steps, guidance=guidance, digit=digit, batch=batch,
               eta=eta, init_image=digit_as_x0(bundle, x)[None], strength=strength)


@engine_action("diffusion", "compare")
@torch.inference_mode()
def compare(bundle, *, seed, schedulers=COMPARE_DEFAULTS["schedulers"], nfe_budget: int = COMPARE_DEFAULTS["nfe_budget"],
            guidance: float = DEFAULTS["guidance"], digit="any", batch: int = 1, eta: float = 0.0,
            max_steps: int = _LIMITS.max_diffusion_steps, max_batch: int = _LIMITS.max_batch) -> list[DiffusionRun]:
    """The same seeds and the same initial noise x_T through each scheduler, at an equal number of model
    evaluations per image (Heun gets half the steps)."""
    names = [scheduler_name(s) for s in schedulers]
    if not 1 <= len(names) <= 3:
        raise ValueError(f"compare takes 1 to 3 schedulers, got {len(names)}.")
    budget = check_number("model evaluations (NFE)", nfe_budget, 2, max_steps, whole=True)
    seed = resolve_seed(seed)
    batch = check_number("batch size", batch, 1, max_batch, whole=True)
    noise = initial_noise(bundle, [offset_seed(seed, i) for i in range(batch)])
    return [run(bundle, seed=seed, scheduler=n, steps=steps_for_nfe(n, budget), guidance=guidance, digit=digit,
                batch=batch, eta=eta, noise=noise, max_steps=max_steps, max_batch=max_batch) for n in names]


@engine_action("diffusion", "forward")
@torch.inference_mode()
def forward_process(bundle, *, seed, x0: torch.Tensor, timesteps=(0, 50, 100, 250, 500, 750, 999)) -> dict:
    """q(x_t | x₀): x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε for each t, with one ε drawn from the seed (CPU).

    x0: (C, H, W) in [-1, 1]. Returns x_t (len(t), C, H, W), ᾱ_t and the signal-to-noise ratio ᾱ/(1 − ᾱ).
    """
    sched = make_scheduler(bundle, "DDPM")
    T = int(sched.config.num_train_timesteps)
    ts = [check_number("t", t, 0, T - 1, whole=True) for t in timesteps]
    if not ts:
        raise ValueError("choose at least one t.")
    eps = torch.randn(x0.shape, generator=make_generator(resolve_seed(seed)))
    x0 = x0.float().cpu()
    tt = torch.tensor(ts)
    xt = sched.add_noise(x0.expand(len(ts), *x0.shape), eps.expand(len(ts), *x0.shape), tt)
    abar = sched.alphas_cumprod[tt].double()
    return {"t": ts, "x_t": xt, "alpha_bar": abar.tolist(), "snr": (abar / (1 - abar)).tolist(), "eps": eps}


def _curve(ab: torch.Tensor) -> dict:
    ab = ab.double()
    return {"t": list(range(len(ab))), "alpha_bar": ab.tolist(), "log_snr": torch.log(ab / (1 - ab)).tolist()}

