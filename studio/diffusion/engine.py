"""The reverse diffusion loop, written out, keeping every step.

Notation (Ho et al. 2020, https://arxiv.org/abs/2006.11239; Song et al. 2021, https://arxiv.org/abs/2010.02502):

* forward process  q(x_t | x₀) = N(√ᾱ_t x₀, (1 − ᾱ_t) I),  ᾱ_t = ∏_{s≤t} (1 − β_s);
* the network predicts the noise:  ε̂ = ε_θ(x_t, t, y);
* the clean image it implies:      x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t;
* classifier-free guidance (Ho & Salimans 2022, https://arxiv.org/abs/2207.12598):
      ε̂ = ε_θ(x_t, t, ∅) + w · (ε_θ(x_t, t, y) − ε_θ(x_t, t, ∅)),  w = 1: plain conditional, w = 0: unconditional.

This module is the pixel family: class labels as the conditioning, pixels as the space. The loop itself (the
scheduler's step, what is kept of each step, img2img's shortened schedule) is :mod:`studio.diffusion.loop`, shared
with text to image. Noise is drawn on the CPU from one generator per image (image i uses seed + i), so a picture
depends only on its seed, not on the batch it was in, and the CPU and a GPU start from the same x_T.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from studio.checks import number, whole_number
from studio.config import Settings
from studio.device import make_generator, offset_seed, resolve_seed
from studio.recipe import engine_action
from studio.diffusion.loop import (ETA_SCHEDULERS, MAX_GUIDANCE, SCHEDULER_NOTES, SCHEDULERS,  # noqa: F401
                                   DenoisingRun, Trajectory, check_compare, check_run, curve, denoise, finished, guided, make_scheduler,
                                   nfe, plan, scheduler_name, steps_for_nfe)  # (re-exported: the tab's one import)

DIGIT_CHOICES = ("any", "none", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
# The tab's defaults, and the setting the card's quality figure is measured at (studio/diffusion/evaluate.py): a
# call with the defaults draws what the tab draws.
DEFAULTS = {"scheduler": "Euler ancestral", "steps": 20, "guidance": 1.0}
COMPARE_DEFAULTS = {"schedulers": ("DDIM", "DPM-Solver++ 2M", "Heun"), "nfe_budget": 10}
_LIMITS = Settings()  # resource limits (STUDIO_MAX_DIFFUSION_STEPS, STUDIO_MAX_BATCH): the unhosted defaults


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


@dataclass(kw_only=True)
class DiffusionRun(DenoisingRun):
    """Everything a pixel run produced (the loop's :class:`DenoisingRun`): images in [-1, 1] model units, tensors
    on the CPU of shape (frames, B, C, H, W); x̂₀ clipped to [-1, 1]."""

    labels: list  # per image: int class or None (unconditional)
    x_t: torch.Tensor  # (S + 1, B, C, H, W)
    x0_hat: torch.Tensor  # (S, B, C, H, W), clipped to [-1, 1]

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


@torch.inference_mode()  # torch enters the mode around each resumption of the generator, in any thread
def iterate(bundle, *, seed, scheduler: str = DEFAULTS["scheduler"], steps: int = DEFAULTS["steps"],
            guidance: float = DEFAULTS["guidance"], digit="any", batch: int = 1, eta: float = 0.0,
            noise: torch.Tensor | None = None, max_steps: int = _LIMITS.max_diffusion_steps,
            max_batch: int = _LIMITS.max_batch, seeds: list[int] | None = None, labels: list | None = None,
            init_image: torch.Tensor | None = None, strength: float = 1.0):
    """The reverse process, one step at a time (the loop is :func:`studio.diffusion.loop.denoise`; here: the class
    label as conditioning, pixels as the space). Yields ``(k, S, frame)`` after each step (frame: a dict with
    x_t, x̂₀, ε̂ of that step, for previews) and finally ``(S, S, run)`` with the whole ``DiffusionRun``.

    ``init_image`` (B or 1, C, H, W) in [-1, 1] and ``strength`` in (0, 1]: img2img (SDEdit, Meng et al. 2021):
    the picture noised to the level of step ``S − int(strength·S)`` with the seed's noise
    (``scheduler.add_noise``), then only the remaining steps run, as diffusers' img2img pipelines do.

    ``seeds`` and ``labels`` (one per image, both given) replace ``seed``, ``batch`` and ``digit``: several users'
    images in one run (:func:`iterate_many`); each image depends only on its own seed and label."""
    if seeds is not None:
        batch, max_batch = len(seeds), max(len(seeds), max_batch)
    name, steps, guidance, batch, eta = check_run(scheduler, steps, guidance, batch, eta, max_steps=max_steps,
                                                  max_batch=max_batch)
    if seeds is None:
        seed = resolve_seed(seed)
        seeds = [offset_seed(seed, i) for i in range(batch)]
        labels = _labels_for(bundle, digit, seeds)
    if init_image is not None:
        strength = number("strength", strength, 0, 1)
    unet = bundle.unet
    device, dtype = next(unet.parameters()).device, next(unet.parameters()).dtype
    p = plan(bundle, name, steps, seeds, eta, strength=strength if init_image is not None else None)

    # the conditioning: each image's class label, the "no class" label for the unconditional prediction
    conditional = [lab is not None for lab in labels]
    use_cond = bundle.num_classes > 0 and any(conditional) and guidance != 0.0
    use_guidance = use_cond and guided(guidance)
    null = bundle.num_classes  # the "no class" label
    y = torch.tensor([null if lab is None else lab for lab in labels], device=device)
    y_null = torch.full_like(y, null)

    def predict(x_in, t):
        if use_guidance:  # one batched call for both halves
            return unet(torch.cat([x_in, x_in]), t, class_labels=torch.cat([y, y_null])).sample.chunk(2)
        if bundle.num_classes > 0:
            return unet(x_in, t, class_labels=y if use_cond else y_null).sample, None
        return unet(x_in, t).sample, None

    # x_T ~ N(0, I) (drawn on the CPU), scaled to the scheduler's starting noise level
    x_T = (initial_noise(bundle, seeds) if noise is None else noise.clone()).to(device, dtype)
    if init_image is None:
        x = x_T * p.scheduler.init_noise_sigma
    else:  # SDEdit: the picture noised to where the remaining steps start
        x = p.add_noise(init_image.float().expand(len(seeds), -1, -1, -1).to(device, dtype), x_T)
    keep = Trajectory()
    for step in denoise(p, x, predict, guidance=guidance, clip_x0=True, keep=keep):
        yield step.k, p.kept_steps, {"x_t": step.x_t, "x0_hat": step.x0_hat, "eps_hat": step.eps_hat, "t": step.t}
    k = keep.steps
    run = DiffusionRun(
        scheduler=name, steps=k, nfe=nfe(name, k, guidance if use_guidance else None), guidance=guidance,
        seeds=seeds, labels=labels, timesteps=keep.timesteps, alpha_bar=keep.alpha_bar,
        x_t=torch.stack([*keep.x_t, keep.final]), x0_hat=keep.stacked("x0_hat"), eps_hat=keep.stacked("eps_hat"),
        x_T=x_T.float().cpu(), eps_cond=keep.stacked("eps_cond"), eps_uncond=keep.stacked("eps_uncond"),
        num_train_timesteps=p.num_train_timesteps, schedule=curve(p.alphas_cumprod),
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
    return finished(iterate(bundle, **kwargs))


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
    names, budget, seed, batch = check_compare(schedulers, nfe_budget, seed, batch, max_steps=max_steps,
                                               max_batch=max_batch)
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
    ts = [whole_number("t", t, 0, T - 1) for t in timesteps]
    if not ts:
        raise ValueError("choose at least one t.")
    eps = torch.randn(x0.shape, generator=make_generator(resolve_seed(seed)))
    x0 = x0.float().cpu()
    tt = torch.tensor(ts)
    xt = sched.add_noise(x0.expand(len(ts), *x0.shape), eps.expand(len(ts), *x0.shape), tt)
    abar = sched.alphas_cumprod[tt].double()
    return {"t": ts, "x_t": xt, "alpha_bar": abar.tolist(), "snr": (abar / (1 - abar)).tolist(), "eps": eps}
