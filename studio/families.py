"""The generative families side by side on one task: the same digit, the same seed, one row each — a VAE's prior
samples, the GAN, the pixel DDPM and the text-to-image model — judged by the same judge (studio/eval/judge.py),
and each family's diversity knob against fidelity and diversity.

Every family's pictures are brought to MNIST's 28×28 in [0, 1] (the diffusion models' 32×32 padding cropped), so the
figures compare:

* **judge accuracy**: the share the judge reads as the digit asked — with "any", the digit each picture was asked
  for (a VAE is not asked for a digit: none is shown);
* **confidence**: the judge's mean probability for what it reads;
* **diversity**: the GAN tab's measure, the mean over pairs of the RMS pixel difference, and the same over as many
  real held-out digits of that class (``diversity_vs_real``: 1.0 = as varied as real digits; for the VAE, which
  samples every class, real digits of every class);
* **NFE**: network evaluations per picture (a VAE's or GAN's single decoder pass is 1; a diffusion model's steps,
  twice over with guidance), and the batch's wall time;
* the checkpoint's **FD ratio** from its eval.json (measured by the eval harness at the tab's defaults).

The knobs (:func:`knob_curves`): a VAE's prior scale (z·s), a GAN's truncation ψ, the pixel DDPM's guidance w and
DDIM's η, the text-to-image model's guidance w: each family trades fidelity for diversity with its own knob.
"""

from __future__ import annotations

import time

import torch

from studio.checks import whole_number
from studio.device import make_generator, resolve_seed
from studio.diffusion.text_to_image.captions import caption
from studio.gan.engine import mean_pairwise_distance
from studio.i18n import N_

FAMILIES = (N_("VAE prior"), N_("GAN"), N_("pixel DDPM"), N_("text to image"))
KNOBS = {"VAE prior": (N_("prior scale s"), (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)),
         "GAN": (N_("truncation ψ"), (0.2, 0.4, 0.6, 0.8, 1.0)),
         "pixel DDPM": (N_("guidance w"), (0.0, 0.5, 1.0, 2.0, 4.0)),
         N_("pixel DDPM (DDIM η)"): (N_("DDIM η"), (0.0, 0.5, 1.0)),
         "text to image": (N_("guidance w"), (1.0, 2.0, 4.0, 8.0))}


def as_digits(images: torch.Tensor) -> torch.Tensor:
    """Any family's pictures (B, 1, 28|32, 28|32), in [0, 1] or [-1, 1], as (B, 1, 28, 28) in [0, 1]."""
    x = images.float()
    if x.min() < -1e-3:
        x = (x + 1) / 2
    if x.shape[-1] == 32:
        x = x[..., 2:30, 2:30]
    return x.clamp(0, 1)


def digit_of(digit) -> int | None:
    text = str(digit).strip().lower()
    if text == "any":
        return None
    if not (text.isdigit() and len(text) == 1):
        raise ValueError(f"digit must be 0..9 or 'any', got {digit!r}.")
    return int(text)


def first_builtin(registry, family: str, prefer: str | None = None) -> str | None:
    keys = [s.key for s in registry.specs(family) if s.builtin]
    return prefer if prefer in keys else (keys[0] if keys else None)


@torch.inference_mode()
def draw(registry, family: str, key: str, *, digit, seed: int, n: int, nfe: int, text: str | None = None,
         knob: float | None = None) -> tuple[torch.Tensor, int, list | None]:
    """(n pictures (n, 1, 28, 28) in [0, 1], NFE per picture, the digit each picture was asked for — None for the
    VAE, which is asked for none) of ``family``'s model ``key`` at its knob's value. With digit "any" each picture
    is asked for its own digit: the GAN's and the pixel DDPM's drawn from their seeds as their tabs do, the
    text-to-image model's the pixel DDPM's (``drawn_digits``), each named in its own caption."""
    d = digit_of(digit)
    bundle = registry.get(key)
    if family == "VAE prior":
        from studio.vae.engine import decode

        z = torch.randn((n, bundle.model.latent_dim), generator=make_generator(seed)) * (1.0 if knob is None else knob)
        return as_digits(decode(bundle.model, z)), 1, None
    if family == "GAN":
        from studio.gan.engine import samples

        out = samples(bundle, seed=seed, count=n, digit="any" if d is None else str(d),
                      truncation="none" if knob is None else "rescale", psi=1.0 if knob is None else knob)
        return out["images"], 1, list(out["labels"])
    if family in ("pixel DDPM", "pixel DDPM (DDIM η)"):
        from studio.diffusion import engine

        w = 1.0 if knob is None or family.endswith("η)") else knob
        eta = knob if family.endswith("η)") else 0.0
        scheduler = "DDIM" if family.endswith("η)") else "DPM-Solver++ 2M"
        steps = max(1, nfe // (2 if engine.guided(w) else 1))
        run = engine.run(bundle, seed=seed, scheduler=scheduler, steps=steps, guidance=w, eta=eta,
                         digit="any" if d is None else str(d), batch=n, max_batch=n)
        return as_digits(run.images), run.nfe, list(run.labels)
    if family == "text to image":
        from studio.diffusion.text_to_image import engine as t2i_engine
        from studio.diffusion.engine import drawn_digits
        from studio.device import offset_seed

        w = t2i_engine.DEFAULTS["guidance"] if knob is None else knob
        steps = max(1, nfe // (2 if t2i_engine.guided(w) else 1))
        if text is not None or d is not None:
            run = t2i_engine.run(bundle, prompt=text if text is not None else caption(d), seed=seed, batch=n,
                             steps=steps, guidance=w, max_batch=n)
            return as_digits(run.images), run.nfe, None if text is not None else [d] * n
        seeds = [offset_seed(seed, i) for i in range(n)]
        asked = drawn_digits(seeds)
        run = t2i_engine.run(bundle, seeds=seeds, prompts=[caption(a) for a in asked], steps=steps, guidance=w,
                         max_batch=n)
        return as_digits(run.images), run.nfe, asked
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}.")


def real_diversity(digit, n: int, data_dir=None) -> float:
    """The diversity measure on ``n`` real held-out digits of that class (any class for "any")."""
    from studio.data import load_mnist

    x, y = load_mnist("heldout", data_dir)
    d = digit_of(digit)
    pool = x if d is None else x[y == d]
    return mean_pairwise_distance(pool[:n])


@torch.inference_mode()
def compare(registry, *, digit="7", seed=0, n: int = 8, nfe: int = 10, text: str | None = None,
            judge_key: str = "digit-judge", data_dir=None) -> list[dict]:
    """One row per family with a built-in model: its pictures and figures (see the module's docstring)."""
    n = whole_number("samples per family", n, 2, 64)
    nfe = whole_number("model evaluations (NFE)", nfe, 1, 200)
    seed = resolve_seed(seed)
    d = digit_of(digit)
    judge = registry.get(judge_key).model
    real = real_diversity(digit, n, data_dir)
    real_any = real if d is None else real_diversity("any", n, data_dir)  # the VAE samples every class
    rows = []
    for family, registry_family, prefer in (("VAE prior", "vae", "mnist-vae-16d"), ("GAN", "gan", None),
                                            ("pixel DDPM", "diffusion", None), ("text to image", "t2i", None)):
        key = first_builtin(registry, registry_family, prefer)
        if key is None:
            continue
        registry.get(key)  # loaded first: the wall time is the batch's, not the model's load
        start = time.perf_counter()
        images, per_picture, asked = draw(registry, family, key, digit=digit, seed=seed, n=n, nfe=nfe, text=text)
        seconds = time.perf_counter() - start
        pred, conf, _ = judge.judge(images)
        div = mean_pairwise_distance(images)
        pool = real_any if family == "VAE prior" else real
        rows.append({
            "family": family, "model": key, "images": images, "judge_pred": pred.tolist(), "judge_conf": conf.tolist(),
            "asked_digits": asked,
            # the share the judge reads as the digit each picture was asked for (with "any", its own); an
            # unconditional VAE was not asked for one: its share is no accuracy, so none is shown
            "judge_accuracy": None if asked is None else round(float((pred == torch.tensor(asked)).float().mean()), 4),
            "confidence": round(float(conf.mean()), 4), "diversity": round(div, 4),
            "diversity_vs_real": round(div / pool, 3) if pool > 0 else None, "nfe": per_picture,
            "seconds": round(seconds, 3), "fd_ratio": registry.spec(key).metrics.get("fd_ratio"),
            "asked": (N_("any digit, each picture its own") if family != "VAE prior" else N_("nothing (unconditional)"))
            if d is None else (f"“{text or caption(d)}”" if family == "text to image" else
                               (str(d) if family != "VAE prior" else N_("nothing (unconditional)")))})
    return rows


@torch.inference_mode()
def knob_curves(registry, *, digit="7", seed=0, n: int = 32, nfe: int = 10, judge_key: str = "digit-judge") -> dict:
    """For each family with a built-in model, its knob's values and, at each, fidelity (the judge's mean
    confidence in the digit asked; for the VAE, in what it reads) and diversity, all from the same seeds."""
    n = whole_number("samples per value", n, 4, 128)
    seed = resolve_seed(seed)
    d = digit_of(digit)
    judge = registry.get(judge_key).model
    out = {}
    for family, registry_family, prefer in (("VAE prior", "vae", "mnist-vae-16d"), ("GAN", "gan", None),
                                            ("pixel DDPM", "diffusion", None), ("pixel DDPM (DDIM η)", "diffusion", None),
                                            ("text to image", "t2i", None)):
        key = first_builtin(registry, registry_family, prefer)
        if key is None:
            continue
        name, values = KNOBS[family]
        fidelity, diversity = [], []
        for v in values:
            images, _, asked = draw(registry, family, key, digit=digit, seed=seed, n=n, nfe=nfe, knob=v)
            logits = judge(images.to(next(judge.parameters()).device)).float().cpu()  # (judge.prepare inside)
            p = torch.softmax(logits, -1)
            # confidence in the digit each picture was asked for (with "any", its own); the VAE's in what it reads
            fid = p.max(-1).values if asked is None else p[torch.arange(len(asked)), torch.tensor(asked)]
            fidelity.append(round(float(fid.mean()), 4))
            diversity.append(round(mean_pairwise_distance(images), 4))
        out[family] = {"knob": name, "values": list(values), "fidelity": fidelity, "diversity": diversity, "model": key}
    return out
