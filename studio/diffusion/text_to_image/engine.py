"""Text to image the Stable Diffusion way: latent diffusion conditioned on a prompt, written out, every step kept.

The loop is diffusers' ``StableDiffusionPipeline.__call__`` step for step (a test holds the final image to it within
1e-4 for DDIM, Euler and DPM-Solver++ 2M), with what the pipeline throws away kept for the tab:

1. the prompt and the negative prompt ("" = the unconditional model) → tokenizer (padded to the text encoder's
   context, cut beyond it) → text encoder → c, c̄ (B, L, D);
2. z_T ~ N(0, I) of shape (4, H/f, W/f) per seed, drawn on the CPU (f: the autoencoder's downsampling factor),
   times the scheduler's starting σ;
3. per step: ε̂ = ε_θ(z_t, t, c̄) + w·(ε_θ(z_t, t, c) − ε_θ(z_t, t, c̄)) (one batched UNet call for both halves,
   unconditional first, as the pipeline), ẑ₀ = (z_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t, z ← scheduler.step(ε̂, t, z);
4. x = D(z₀ / scaling_factor): the autoencoder's decoder turns the final latent into pixels.

What the tab shows at each step: z_t and ε̂ as pictures of the latent's channels, and ẑ₀ *decoded* — by the full
decoder where that is cheap (images up to :data:`FULL_DECODE_MAX` pixels a side: the built-in model, 32×32), else by
a linear map from the latent's channels to RGB fitted to the model's own autoencoder (:func:`preview_map`), with the
full decode of any step on demand (:func:`decode_step`). Stable Diffusion's 512×512 decoder takes seconds on a CPU
per image; the linear preview takes microseconds and shows the composition, which is what changes step to step.

img2img (SDEdit, Meng et al. 2021, https://arxiv.org/abs/2108.01073): encode the starting picture, noise it to the
level of step ⌈strength·S⌉ from the end (``scheduler.add_noise``), and run only the remaining steps, as diffusers'
``StableDiffusionImg2ImgPipeline`` does. Variation seeds (the AUTOMATIC1111 web UI's): z_T = slerp(z_T(seed),
z_T(variation seed), strength).

Why this module is long: the loop, what it keeps, and its four engine actions (run, img2img, compare, the guidance ×
steps grid) read as one algorithm, Stable Diffusion's pipeline written out, which is what the tab exists to show.
"""

from __future__ import annotations

import operator
import weakref
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from studio.checks import number, whole_number
from studio.config import Settings
from studio.device import make_generator, offset_seed, resolve_seed
from studio.diffusion.text_to_image.autoencoder import (FULL_DECODE_MAX, decode, encode, linear_preview, picture_of,  # noqa: F401
                                          preview_kind, preview_map)  # (re-exported: the engine's one import)
from studio.diffusion.loader import TextToImageBundle  # noqa: F401 - the bundle its functions take
from studio.diffusion.loop import (MAX_GUIDANCE, DenoisingRun, Trajectory, check_compare, check_run, curve, finished,  # noqa: F401
                                   denoise, guided, nfe, plan, scheduler_name, steps_for_nfe)
from studio.latent import slerp
from studio.recipe import engine_action

# The tab's defaults (and the setting the card's figures are measured at).
DEFAULTS = {"scheduler": "DPM-Solver++ 2M", "steps": 20, "guidance": 4.0}
_LIMITS = Settings()


class StepPictures:
    """Each step's ẑ₀ as a picture, (S, B, c, H', W') float16, indexed like a tensor by step: step k is pictured
    (decoded, or the linear preview) when first asked for, then kept. Picturing all S × B ẑ₀ after the loop cost the
    built-in model as much as 23% of the run (80 decodes for 20 steps of 4 images, benchmarks/diffusion_capture.py);
    a user looks at a few of them (the scrubber's step, the strip's columns). The model is held weakly: a run kept in a
    session does not keep an unloaded model in memory; ``reload`` (set by the tab: the registry's ``get`` of the run's
    model) brings it back when it was unloaded or evicted meanwhile, so a student's kept run stays usable. Pickled
    (replay), every step is pictured first."""

    def __init__(self, latents: torch.Tensor, bundle, kind: str, done: dict | None = None):
        self.latents, self.kind, self._done = latents, kind, dict(done or {})
        self._bundle = weakref.ref(bundle) if bundle is not None else None
        self.reload = None  # () -> bundle, when the model went

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self[0].shape))

    def __len__(self) -> int:
        return self.latents.shape[0]

    def picture(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (N, C, h, w) as pictures (float32), by this run's kind (the model brought back if it went); the
        kept steps are stored in float16."""
        bundle = self._bundle() if self._bundle is not None else None
        if bundle is None and self.reload is not None:  # unloaded or evicted since: loaded again
            bundle = self.reload()
            self._bundle = weakref.ref(bundle)
        if bundle is None:
            raise ValueError("The model of this run was unloaded since: run it again to see its steps.")
        return picture_of(bundle, latents, self.kind)

    def __getitem__(self, k) -> torch.Tensor:
        k = operator.index(k)
        k = k + len(self) if k < 0 else k
        if not 0 <= k < len(self):
            raise IndexError(f"step {k} of {len(self)}")
        if k not in self._done:
            self._done[k] = self.picture(self.latents[k]).half()
        return self._done[k]

    def all(self) -> torch.Tensor:
        """Every step's picture, the missing ones made in one batch."""
        missing = [k for k in range(len(self)) if k not in self._done]
        if missing:
            made = self.picture(self.latents[missing].flatten(0, 1)).half().unflatten(0, (len(missing), -1))
            self._done.update(zip(missing, made))
        return torch.stack([self._done[k] for k in range(len(self))])

    def rows(self, lo: int, hi: int) -> "StepPictures":
        out = StepPictures(self.latents[:, lo:hi].clone(), None, self.kind,
                           {k: v[lo:hi].clone() for k, v in self._done.items()})
        out._bundle, out.reload = self._bundle, self.reload
        return out

    def __getstate__(self):
        self.all()
        return {"latents": self.latents, "kind": self.kind, "_done": self._done, "_bundle": None, "reload": None}


@dataclass(kw_only=True)
class TextToImageRun(DenoisingRun):
    """Everything a text-to-image run produced (the loop's :class:`DenoisingRun`). Latents (z) are in the UNet's
    scale; pictures in [-1, 1]. ``x0_hat`` holds each step's ẑ₀ *as a picture* (decoded, or the linear preview:
    ``preview``), so the Diffusion tab's strips, scrubber and GIF read it as they read a pixel run's x̂₀."""

    space: ClassVar[str] = "latent"
    clip_x0: ClassVar[bool] = False  # a latent has no range to clip to

    prompt: str
    negative_prompt: str
    latents: torch.Tensor  # (S + 1, B, C, h, w): z_t entering each step, then the final z₀
    x0_latent: torch.Tensor  # (S, B, C, h, w)
    x0_hat: StepPictures  # (S, B, c, H', W') float16: ẑ₀ as a picture (H' = H, or h for the linear preview)
    images: torch.Tensor  # (B, c, H, W) in [-1, 1]: the full decode of the final latent
    preview: str  # "decoder" | "linear"
    notes: list = field(default_factory=list)  # what the user should know (a cut prompt, an empty one)
    tokens: list = field(default_factory=list)  # the prompt's tokens as the text encoder saw them

    @property
    def x_t(self) -> torch.Tensor:  # what the pixel run calls its states
        return self.latents

    @property
    def labels(self) -> list:
        return [self.prompt] * len(self.seeds)

    def picture(self, x0: torch.Tensor) -> torch.Tensor:
        """ẑ₀ latents as pictures, the way this run pictures its steps (the decoder or the linear preview)."""
        return self.x0_hat.picture(x0)

    def rows(self, lo: int, hi: int) -> "TextToImageRun":
        """Images lo..hi-1 as a run of their own (each image depends only on its seed and the prompt)."""
        def cut(t):
            return None if t is None else t[:, lo:hi].clone()

        return replace(self, seeds=self.seeds[lo:hi], latents=cut(self.latents), x0_latent=cut(self.x0_latent),
                       eps_hat=cut(self.eps_hat), x0_hat=self.x0_hat.rows(lo, hi), images=self.images[lo:hi].clone(),
                       x_T=self.x_T[lo:hi].clone(), eps_cond=cut(self.eps_cond), eps_uncond=cut(self.eps_uncond),
                       settings={**self.settings, "batch": hi - lo})


# --- checks -------------------------------------------------------------------------------------------------------

def check_size(bundle, height, width) -> tuple[int, int]:
    """Height and width in pixels: whole numbers, multiples of the autoencoder's factor, up to 2× the model's size."""
    f, default = bundle.vae_scale_factor, bundle.default_size
    out = []
    for name, value in (("height", height), ("width", width)):
        if value is None:
            out.append(default)
            continue
        v = whole_number(name, value, f, 2 * default)
        if v % f:
            raise ValueError(f"{name} must be a multiple of {f} (this model's autoencoder turns {f}×{f} pixels into "
                             f"one latent position), got {v}; try {max(f, v // f * f)} or {v // f * f + f}.")
        out.append(v)
    return out[0], out[1]


def check_prompt(prompt, what: str = "prompt") -> str:
    if prompt is None:
        return ""
    if not isinstance(prompt, str):
        raise ValueError(f"{what} must be text, got {type(prompt).__name__}.")
    return prompt


# --- the parts of a step ------------------------------------------------------------------------------------------

@torch.inference_mode()
def encode_prompt(bundle, texts: list[str]) -> tuple[torch.Tensor, list[dict]]:
    """The text encoder's hidden states for each text, padded to its context and cut beyond it, as the pipeline:
    (B, L, D); and per text what it saw: its tokens and the words cut off (or None)."""
    tok, enc = bundle.tokenizer, bundle.text_encoder
    device = next(enc.parameters()).device
    inputs = tok(texts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
    mask = inputs.attention_mask.to(device) if getattr(enc.config, "use_attention_mask", False) else None
    embeds = enc(inputs.input_ids.to(device), attention_mask=mask)[0]
    info = []
    for text, ids in zip(texts, inputs.input_ids):
        full = tok(text).input_ids
        cut = None
        if len(full) > tok.model_max_length:
            cut = tok.decode(full[tok.model_max_length - 1:-1])
        real = [i for i in ids.tolist()]
        end = real.index(tok.eos_token_id) + 1 if tok.eos_token_id in real else len(real)
        info.append({"tokens": tok.convert_ids_to_tokens(real[:end]), "cut": cut})
    return embeds, info


def initial_latents(bundle, seeds: list[int], height: int, width: int) -> torch.Tensor:
    """z_T ~ N(0, I) for each seed, drawn on the CPU: (B, C, H/f, W/f)."""
    f = bundle.vae_scale_factor
    shape = (bundle.latent_channels, height // f, width // f)
    return torch.stack([torch.randn(shape, generator=make_generator(s)) for s in seeds])


def variation_latents(bundle, seeds: list[int], variation_seed: int, strength: float, height: int,
                      width: int) -> torch.Tensor:
    """The AUTOMATIC1111 web UI's variation seed: slerp(z_T(seed), z_T(variation_seed + i), strength) per image,
    which keeps ‖z‖ on the prior's typical shell (a lerp would shrink it towards the middle)."""
    base = initial_latents(bundle, seeds, height, width)
    other = initial_latents(bundle, [offset_seed(variation_seed, i) for i in range(len(seeds))], height, width)
    t = torch.full((len(seeds), 1), float(strength))
    return slerp(base.flatten(1), other.flatten(1), t).view_as(base)


# --- the loop -----------------------------------------------------------------------------------------------------

@torch.inference_mode()
def iterate(bundle, *, prompt: str = "", negative_prompt: str = "", seed=0, scheduler: str = DEFAULTS["scheduler"],
            steps: int = DEFAULTS["steps"], guidance: float = DEFAULTS["guidance"], batch: int = 1, eta: float = 0.0,
            height: int | None = None, width: int | None = None, latents: torch.Tensor | None = None,
            init_image: torch.Tensor | None = None, strength: float = 1.0, variation_seed: int | None = None,
            variation_strength: float = 0.0, max_steps: int = _LIMITS.max_diffusion_steps,
            max_batch: int = _LIMITS.max_batch, seeds: list[int] | None = None, prompts: list[str] | None = None,
            negative_prompts: list[str] | None = None):
    """The reverse process in latent space, one step at a time. Yields ``(k, S, frame)`` after each step (frame:
    the step's z_t, ẑ₀ picture and ε̂, for previews), finally ``(S, S, run)`` with the whole ``TextToImageRun``.

    Args:
        prompt: what to draw; "" = the unconditional model.
        negative_prompt: what to steer away from: its prediction replaces the unconditional one in guidance.
        seed: image i uses seed + i (its z_T); -1 draws a fresh seed. ``seeds``: one per image instead.
        scheduler, steps, guidance, eta: as in the Diffusion tab (w = 1: the conditional prediction alone;
            w = 0: the negative / unconditional one alone).
        batch: images at once. height, width: pixels (multiples of the autoencoder's factor).
        latents: z_T (B, C, h, w) to start from instead of the seeds' (the pipeline's ``latents=``).
        init_image: img2img's starting picture (B or 1, c, H, W) in [-1, 1]; ``strength`` in (0, 1]: how much
            of the schedule is run again (1 = from pure noise, the picture forgotten).
        variation_seed, variation_strength: slerp the starting noise towards another seed's.
        seeds, prompts, negative_prompts: one per image instead of ``seed``, ``prompt``, ``negative_prompt``
            and ``batch`` (several users' runs, or an evaluation, in one batch; each image depends only on its own).
    """
    if prompts is not None:
        if seeds is None or len(seeds) != len(prompts):
            raise ValueError("prompts need one seed each (seeds=).")
        negative_prompts = list(negative_prompts) if negative_prompts is not None else [""] * len(prompts)
        prompts = [check_prompt(p) for p in prompts]
        negative_prompts = [check_prompt(p, "negative prompt") for p in negative_prompts]
        prompt, negative_prompt = prompts[0], negative_prompts[0]
    if seeds is not None:
        batch, max_batch = len(seeds), max(len(seeds), max_batch)
    name, steps, guidance, batch, eta = check_run(scheduler, steps, guidance, batch, eta, max_steps=max_steps,
                                                  max_batch=max_batch)
    prompt, negative_prompt = check_prompt(prompt), check_prompt(negative_prompt, "negative prompt")
    height, width = check_size(bundle, height, width)
    strength = number("strength", strength, 0, 1)
    if init_image is not None and strength <= 0:
        raise ValueError("strength must be above 0: at 0 no step would run and the picture would come back as it was.")
    if seeds is None:
        seed = resolve_seed(seed)
        seeds = [offset_seed(seed, i) for i in range(batch)]
    unet = bundle.unet
    device, dtype = next(unet.parameters()).device, next(unet.parameters()).dtype
    p = plan(bundle, name, steps, seeds, eta, strength=strength if init_image is not None else None)

    # 1. the conditioning: c and c̄, the prompts' and the negative prompts' hidden states (one text-encoder call)
    use_guidance = guided(guidance)
    positives = prompts if prompts is not None else [prompt]
    negatives = negative_prompts if prompts is not None else [negative_prompt]
    texts = positives + negatives if use_guidance else (positives if guidance != 0.0 else negatives)
    embeds, info = encode_prompt(bundle, texts)
    n = len(positives)
    if use_guidance:
        cond, uncond = embeds[:n].expand(batch, -1, -1), embeds[n:].expand(batch, -1, -1)
        context = torch.cat([uncond, cond]).to(dtype)  # unconditional first, as the pipeline
    else:
        context = embeds.expand(batch, -1, -1).to(dtype)
    notes = []
    if info[0]["cut"] and (guidance != 0.0):
        notes.append(f"The prompt is longer than the text encoder takes ({bundle.max_tokens} tokens with its start "
                     f"and end); it was cut and these words were not read: “{info[0]['cut']}”.")
    if not prompt.strip() and guidance != 0.0:
        notes.append("The prompt is empty: this is the unconditional model (what the model draws from no text).")
    if use_guidance and info[n]["cut"]:
        notes.append(f"The negative prompt was cut to {bundle.max_tokens} tokens; not read: “{info[n]['cut']}”.")

    def predict(z_in, t):
        if use_guidance:  # one batched call for both halves, unconditional first
            eps_u, eps_c = unet(torch.cat([z_in, z_in]), t, encoder_hidden_states=context).sample.chunk(2)
            return eps_c, eps_u
        return unet(z_in, t, encoder_hidden_states=context).sample, None

    # 2. z_T: the seeds' noise (or the caller's), slerped towards a variation seed's when asked
    if latents is not None:
        x_T = latents.float().cpu().clone()
        if x_T.shape[0] != batch:
            raise ValueError(f"latents hold {x_T.shape[0]} images, the batch is {batch}.")
    elif variation_seed is not None and variation_strength > 0:
        x_T = variation_latents(bundle, seeds, int(variation_seed), number("variation strength", variation_strength,
                                                                           0, 1), height, width)
    else:
        x_T = initial_latents(bundle, seeds, height, width)
    if init_image is None:
        z = x_T.to(device, dtype) * p.scheduler.init_noise_sigma
    else:  # SDEdit: the picture's latent noised to where the remaining steps start
        picture = init_image.float()
        if picture.shape[0] == 1 and batch > 1:
            picture = picture.expand(batch, -1, -1, -1)
        z0 = torch.cat([encode(bundle, picture[i:i + 1], generator=make_generator(s + 2_000_029))
                        for i, s in enumerate(seeds)])
        z = p.add_noise(z0, x_T).to(device, dtype)
    kind = preview_kind(bundle, height, width)
    # 3. the loop (studio.diffusion.loop): each step's ẑ₀ is pictured when first shown (``StepPictures``); a streamed
    #    frame is pictured by whoever shows it (``frame_picture``)
    keep = Trajectory()
    for step in denoise(p, z, predict, guidance=guidance, clip_x0=False, keep=keep):
        yield step.k, p.kept_steps, {"x_t": step.x_t, "x0_latent": step.x0_hat, "eps_hat": step.eps_hat, "t": step.t,
                                     "preview": kind}
    # 4. the picture: the full decoder on the final latent
    k = keep.steps
    images = decode(bundle, keep.final)
    x0_latent = keep.stacked("x0_hat")
    run = TextToImageRun(
        scheduler=name, steps=k, nfe=nfe(name, k, guidance if use_guidance else None), guidance=guidance,
        seeds=seeds, prompt=prompt, negative_prompt=negative_prompt, timesteps=keep.timesteps,
        alpha_bar=keep.alpha_bar, latents=torch.cat([torch.stack(keep.x_t), keep.final[None]]), x0_latent=x0_latent,
        eps_hat=keep.stacked("eps_hat"), x0_hat=StepPictures(x0_latent, bundle, kind), images=images, preview=kind,
        x_T=x_T, eps_cond=keep.stacked("eps_cond"), eps_uncond=keep.stacked("eps_uncond"), notes=notes,
        tokens=info[0]["tokens"], num_train_timesteps=p.num_train_timesteps, schedule=curve(p.alphas_cumprod),
        settings={"scheduler": name, "steps": steps, "guidance": guidance, "batch": batch, "eta": eta,
                  "height": height, "width": width, "prompt": prompt, "negative_prompt": negative_prompt,
                  **({"strength": strength} if init_image is not None else {}),
                  **({"variation_seed": int(variation_seed), "variation_strength": variation_strength}
                     if variation_seed is not None and variation_strength > 0 else {})})
    yield k, p.kept_steps, run


def frame_picture(bundle, frame: dict) -> dict:
    """A streamed frame with its ẑ₀ pictured (``x0_hat``), for a preview."""
    return {**frame, "x0_hat": picture_of(bundle, frame["x0_latent"], frame["preview"])}


def run(bundle, **kwargs) -> TextToImageRun:
    """``iterate`` to the end; returns the ``TextToImageRun``."""
    return finished(iterate(bundle, **kwargs))


@engine_action("t2i", "run")
@torch.inference_mode()
def sample(bundle, *, seed, prompt: str = "", negative_prompt: str = "", scheduler: str = DEFAULTS["scheduler"],
           steps: int = DEFAULTS["steps"], guidance: float = DEFAULTS["guidance"], batch: int = 1, eta: float = 0.0,
           height: int | None = None, width: int | None = None, variation_seed: int | None = None,
           variation_strength: float = 0.0) -> TextToImageRun:
    """One full text-to-image run (the recipe action)."""
    return run(bundle, seed=seed, prompt=prompt, negative_prompt=negative_prompt, scheduler=scheduler, steps=steps,
               guidance=guidance, batch=batch, eta=eta, height=height, width=width, variation_seed=variation_seed,
               variation_strength=variation_strength)


@engine_action("t2i", "img2img")
@torch.inference_mode()
def img2img(bundle, *, seed, heldout_index=0, source: str = "held-out digit", prompt: str = "",
            negative_prompt: str = "", scheduler: str = DEFAULTS["scheduler"], steps: int = DEFAULTS["steps"],
            guidance: float = DEFAULTS["guidance"], batch: int = 1, eta: float = 0.0, height: int | None = None,
            width: int | None = None, strength: float = 0.6) -> TextToImageRun:
    """img2img from a held-out MNIST digit (the recipe action; an upload or a drawing is not in a recipe)."""
    if source != "held-out digit" or heldout_index is None:
        raise ValueError(f"this run started from {source!r}, which a recipe does not hold; only runs from a held-out "
                         "digit can be reproduced from their recipe.")
    from studio.data import heldout_digit
    from studio.diffusion.digits import pad_digit

    x, _, _ = heldout_digit(heldout_index)
    picture = pad_digit(x, bundle.default_size)
    return run(bundle, seed=seed, prompt=prompt, negative_prompt=negative_prompt, scheduler=scheduler, steps=steps,
               guidance=guidance, batch=batch, eta=eta, height=height, width=width,
               init_image=picture.expand(-1, bundle.image_channels, -1, -1), strength=strength)


@engine_action("t2i", "compare")
@torch.inference_mode()
def compare(bundle, *, seed, prompt: str = "", negative_prompt: str = "",
            schedulers=("DDIM", "DPM-Solver++ 2M", "Heun"), nfe_budget: int = 10,
            guidance: float = DEFAULTS["guidance"], batch: int = 1, eta: float = 0.0, height: int | None = None,
            width: int | None = None, max_steps: int = _LIMITS.max_diffusion_steps,
            max_batch: int = _LIMITS.max_batch) -> list[TextToImageRun]:
    """The same prompt and starting noise through each scheduler at an equal number of model evaluations."""
    names, budget, seed, batch = check_compare(schedulers, nfe_budget, seed, batch, max_steps=max_steps,
                                               max_batch=max_batch)
    height, width = check_size(bundle, height, width)
    noise = initial_latents(bundle, [offset_seed(seed, i) for i in range(batch)], height, width)
    return [run(bundle, seed=seed, prompt=prompt, negative_prompt=negative_prompt, scheduler=n,
                steps=steps_for_nfe(n, budget), guidance=guidance, batch=batch, eta=eta, height=height, width=width,
                latents=noise, max_steps=max_steps, max_batch=max_batch) for n in names]


@engine_action("t2i", "grid")
@torch.inference_mode()
def guidance_steps_grid(bundle, *, seed, prompt: str = "", negative_prompt: str = "",
                        scheduler: str = DEFAULTS["scheduler"], guidances=(1.0, 2.0, 4.0, 8.0),
                        steps_list=(5, 10, 20), height: int | None = None, width: int | None = None,
                        max_steps: int = _LIMITS.max_diffusion_steps) -> dict:
    """A guidance × steps grid whose cells all start from one z_T (the seed's): rows = steps, columns = w. Each
    cell's picture and its model evaluations (NFE: steps, ×2 when guided; Heun's 2 a step)."""
    if not 1 <= len(guidances) <= 6 or not 1 <= len(steps_list) <= 6:
        raise ValueError("the grid takes 1 to 6 guidance values and 1 to 6 step counts.")
    ws = [number("guidance w", w, 0, MAX_GUIDANCE) for w in guidances]
    ss = [whole_number("steps", s, 1, max_steps) for s in steps_list]
    seed = resolve_seed(seed)
    height, width = check_size(bundle, height, width)
    noise = initial_latents(bundle, [seed], height, width)
    cells = []
    for s in ss:
        for w in ws:
            r = run(bundle, seed=seed, prompt=prompt, negative_prompt=negative_prompt, scheduler=scheduler, steps=s,
                    guidance=w, latents=noise, height=height, width=width, max_steps=max_steps)
            cells.append({"steps": s, "guidance": w, "nfe": r.nfe, "image": r.images[0]})
    return {"cells": cells, "guidances": ws, "steps": ss, "seed": seed, "x_T": noise}


@torch.inference_mode()
def decode_step(bundle, run: TextToImageRun, k: int) -> torch.Tensor:
    """The full decoder on step k's ẑ₀ (for a run previewed with the linear map): (B, c, H, W) in [-1, 1]."""
    if not 0 <= k < run.steps:
        raise ValueError(f"step must be in 1..{run.steps}, got {k + 1}.")
    return decode(bundle, run.x0_latent[k])
