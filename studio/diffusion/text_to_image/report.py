"""``python -m studio.diffusion.text_to_image.train --report``: measure the saved text-to-image model with the eval harness
(studio/diffusion/text_to_image/evaluate.py), draw its sample sheet and loss curves, write eval.json and the model card."""

from __future__ import annotations

import json
import logging
import time


from studio.cards import write_model_card
from studio.config import REPO_ROOT
from studio.diffusion.text_to_image import captions as cap

log = logging.getLogger("studio.diffusion.text_to_image.report")

SHEET_PROMPTS = ("a {d}", "a thin {d}", "a thick {d}", "an upright {d}", "a slanted {d}", "a narrow {d}",
                 "a wide {d}", "a thick, slanted, wide {d}")


def sample_sheet(bundle, path, *, seed: int = 0, steps: int | None = None) -> None:
    """Rows: digits 0..9; columns: the prompts of SHEET_PROMPTS, all from the same seed per row; ``steps``: the
    engine's default unless given."""
    from studio.diffusion.text_to_image import engine
    from studio.plots import image_grid

    prompts, seeds = [], []
    for d in range(10):
        for p in SHEET_PROMPTS:
            text = p.format(d=cap.DIGIT_WORDS[d])
            prompts.append(text.replace("a eight", "an eight"))
            seeds.append(seed + d)
    r = engine.run(bundle, prompts=prompts, seeds=seeds, max_batch=len(prompts),
                   **({} if steps is None else {"steps": steps}))
    image_grid((r.images + 1) / 2, len(SHEET_PROMPTS), scale=2).save(path)


def report(args) -> None:
    from studio.catalog import builtin_specs
    from studio.diffusion.text_to_image import evaluate as ev
    from studio.diffusion.text_to_image.engine import DEFAULTS
    from studio.plots import loss_curves
    from studio.registry import ModelRegistry, ModelSpec

    out = args.out
    meta = json.loads((out / "training.json").read_text())
    reg = ModelRegistry([*builtin_specs(REPO_ROOT / "checkpoints"),
                         ModelSpec(key="new-t2i", family="t2i", source=str(out), loader="diffusers-sd")], device="cpu")
    start = time.perf_counter()
    figures = ev.evaluate_checkpoint(reg, "new-t2i", data_dir=args.data)
    eval_seconds = time.perf_counter() - start
    bundle = reg.get("new-t2i")
    sample_sheet(bundle, out / "samples.png")
    unet_log = json.loads((out / "training_log_unet.json").read_text())
    vae_log = json.loads((out / "training_log_vae.json").read_text())
    fig = loss_curves(unet_log, [("loss", "ε-prediction MSE (running mean)")], title="UNet + text encoder")
    fig.savefig(out / "loss_curves.png", dpi=80)
    fig = loss_curves(vae_log, [("reconstruction", "L1 + L2 reconstruction (running mean)")], title="autoencoder")
    fig.savefig(out / "loss_curves_vae.png", dpi=80)
    counts = {name: sum(p.numel() for p in getattr(bundle, name).parameters())
              for name in ("text_encoder", "unet", "vae")}
    v, d = meta["vae"], meta["diffusion"]
    by = figures["attribute_accuracy_by_attribute"]
    pixel = figures.get("pixel_ddpm_fd_ratio")
    stopped = ("" if d["stopped_by"] == "steps" else
               f" Stage 2 was stopped by `--max-minutes` after {d['steps_done']:,} of {d['steps_asked']:,} steps; the "
               "shipped weights are the EMA at that point.")
    body = f"""# mnist-t2i

A text-to-image model trained on MNIST by this project, in Stable Diffusion's own format and classes: a diffusers
`StableDiffusionPipeline` folder (`model_index.json`; `tokenizer/` CLIPTokenizer, `text_encoder/` CLIPTextModel,
`unet/` UNet2DConditionModel, `vae/` AutoencoderKL, `scheduler/`), so the studio's Text to image tab runs it through
the same code as a Stable Diffusion from the Hub, and `StableDiffusionPipeline.from_pretrained` loads it unchanged.
It draws 32×32 grey digits from captions such as "a thick, slanted seven": the digit as a word or a numeral, and
three attributes measured on each training digit (`studio/diffusion/text_to_image/captions.py`): stroke **thickness** (thin /
thick: ink mass over half the inked perimeter), **slant** (upright / slanted: the shear −μ₁₁/μ₀₂ of the ink), and
**width** (narrow / wide: the bounding box's width; MNIST scaled every digit to a 20-pixel longer side, nearly always
the height, so width is what is left of "size"). Each is cut into thirds per digit on the training split
(`caption_bins.json`); the outer thirds have words, the middle is left unsaid.

## Measured quality
At the tab's defaults ({DEFAULTS['scheduler']}, {DEFAULTS['steps']} steps, guidance w = {DEFAULTS['guidance']:g}); re-measure
with `python -m studio.eval t2i --json` (about {eval_seconds / 60:.0f} min on 2 CPU cores):

| figure | value | floor |
|---|---|---|
| the judge reads the caption's digit (1,000 captions of the held-out digits, seed i for caption i) | **{figures['judge_accuracy']:.1%}** | ≥ 95% |
| attribute accuracy (600 prompt pairs that differ in one attribute, same seed: the measured attribute moves the asked way) | **{figures['attribute_accuracy']:.1%}** (thickness {by['thickness']:.1%}, slant {by['slant']:.1%}, width {by['width']:.1%}) | ≥ 90% |
| FD ratio (judge features vs the held-out digits; 1.0 = as close as real training digits) | **{figures['fd_ratio']:.2f}** (the pixel DDPM `mnist-ddpm`: {pixel if pixel is not None else 'not measured'}) | — |
| the autoencoder alone on the held-out digits: MSE in [0, 1] / the judge's accuracy on its reconstructions | {figures['autoencoder_mse']:.4f} / {figures['autoencoder_judge_accuracy']:.1%} | — |

![rows: digits 0-9; columns: "a seven", thin, thick, upright, slanted, narrow, wide, "a thick, slanted, wide seven"; one seed per row](samples.png)

## Training
- **Command**: `{meta['command']}` (seed {meta['seed']})
- **Machine**: {meta['machine']}
- **Data**: MNIST images 0..8999 (the held-out 9000..9999 never seen), scaled to [-1, 1] and padded to 32×32.

1. **Autoencoder** ({counts['vae']:,} parameters): AutoencoderKL, widths {v['width']}/{2 * v['width']}/{2 * v['width']},
   32×32×1 ↔ 4×8×8; L1 + L2 reconstruction + {v['kl']:g} × KL, AdamW lr {v['lr']:g} (cosine to 10%), batch
   {v['batch_size']}, {v['steps']:,} steps, {v['wall_seconds'] / 60:.1f} min. `scaling_factor` = 1 / std of the training
   latents = {v['scaling_factor']}.
2. **Text encoder and UNet, together** ({counts['text_encoder']:,} + {counts['unet']:,} parameters): CLIPTextModel
   ({d['text_layers']} layers, width {d['text_width']}, {meta['tokens']} tokens, context 16) and UNet2DConditionModel
   (widths {d['unet_width']}/{2 * d['unet_width']} at 8×8 / 4×4, cross-attention at both), trained from scratch on the
   ε-prediction loss of Stable Diffusion's noise schedule (scaled-linear β 0.00085 → 0.012, T = 1000); captions
   made afresh each time (each outer-third attribute named with probability 0.8, the digit a numeral 20% of the
   time), dropped to "" for {d['p_uncond']:.0%} (the unconditional model that guidance needs); AdamW lr {d['lr']:g}
   ({d['warmup']} warm-up steps, cosine decay), batch {d['batch_size']}, {d['steps_done']:,} steps
   ({d['steps_done'] * d['batch_size'] / 9000:.0f} epochs), {d['wall_seconds'] / 60:.1f} min; shipped weights: EMA
   (decay {d['ema']}).{stopped}
- **Wall time** in all: {(v['wall_seconds'] + d['wall_seconds']) / 60:.1f} min. Re-run: the command above; then
  `python -m studio.diffusion.text_to_image.train --report` for this card and `eval.json`.

![UNet loss](loss_curves.png) ![autoencoder loss](loss_curves_vae.png)
"""
    write_model_card(out, key="mnist-t2i", family="t2i", loader="diffusers-sd",
                     tags=["text-to-image", "latent-diffusion", "stable-diffusion", "mnist", "diffusers"],
                     library_name="diffusers",
                     description=(f"text-to-image latent diffusion on MNIST captions (judge reads the digit "
                                  f"{figures['judge_accuracy']:.0%}, attributes {figures['attribute_accuracy']:.0%})"),
                     body=body)
    entry = {"family": "t2i", **figures, "device": "cpu", "eval_seconds": round(eval_seconds, 1)}
    (out / "eval.json").write_text(json.dumps(entry, indent=2) + "\n")
    log.info("figures %s; wrote %s", {k: v for k, v in figures.items() if k != "settings"}, out / "README.md")
