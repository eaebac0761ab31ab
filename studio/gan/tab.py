"""The GAN tab: seeded sampling, truncation, interpolation and walks, judged.

The handlers are module-level functions of a ``GanContext`` and keyword arguments (a test calls
``gan_grid(ctx, model="mnist-dcgan", grid_side=2)``); ``build_gan_tab`` only lays out and wires."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.checks import whole_number
from studio.errors import StudioError
from studio.gan import engine
from studio.i18n import N_, T_
from studio.plots import image_grid, loss_curves, to_pil, write_gif
from studio.recipe import Recipe
from studio.ui.common import (add_model, add_model_box, default_key, export_folder, family_bundle, judge_key, plot_of,
                              shared_args)
from studio.ui.wiring import HEAVY, wired

TRUNCATION_NOTE = (
    "**Truncation: fidelity versus diversity.** The generator learned from latents drawn from N(0, I). Latents "
    "far out in the tails were rare in training, so the generator draws them worst. *Resample* redraws every "
    "latent component beyond the threshold τ (BigGAN); *rescale* multiplies the latent by ψ < 1, pulling it "
    "toward the average (StyleGAN). Both make samples cleaner and more alike: watch the judge's confidence go up "
    "and the diversity figure go down."
)


TRUNCATION_ARGS = (  # Args: lines shared by several handlers' docstrings (see shared_args)
    'truncation: "none", "resample" (redraw latent components beyond the threshold, BigGAN) or "rescale"\n                (multiply the latent by psi, StyleGAN).',
    'threshold: τ for "resample".',
    'psi: ψ for "rescale", 0..1.',
)


@dataclass(frozen=True)
class GanContext:
    """What the handlers need besides their arguments: the registry, the grid limit and the tab's defaults. The
    wiring binds it (``studio.ui.common.bind``), so it is never an argument of the call Gradio (or ZeroGPU) sees."""

    registry: object
    max_side: int
    default_model: str | None
    judge_key: str | None

    @classmethod
    def of(cls, registry, settings) -> "GanContext":
        return cls(registry=registry, max_side=min(8, settings.max_grid),  # the GAN grid is at most 8×8
                   default_model=default_key(registry, "gan"), judge_key=judge_key(registry))


def bundle_for(ctx, key):
    return family_bundle(ctx.registry, key, "gan", "generator")


def judge(ctx):
    return ctx.registry.get(ctx.judge_key).model if ctx.judge_key else None


@shared_args(*TRUNCATION_ARGS)
def gan_grid(ctx, model=None, digit="any", seed=0, grid_side=4, truncation="none",
             threshold=1.5, psi=0.7):
    """An N×N grid of samples from consecutive seeds, each judged; returns the gallery and a summary.

    Args:
        model: a generator key (e.g. mnist-dcgan).
        digit: the class to draw, "0".."9", or "any" (each seed also draws its digit).
        seed: the first seed; image i uses seed + i; -1 draws a fresh one.
        grid_side: N, images per side (N×N samples).
    """
    key, digit_value, seed_value, n, trunc, tau, psi_value = model, digit, seed, grid_side, truncation, threshold, psi
    params = {"n": whole_number("Grid side", n), "digit": digit_value, "truncation": trunc, "threshold": tau,
              "psi": psi_value}
    first = engine.resolve_seed(seed_value)
    out = engine.grid(bundle_for(ctx, key), seed=first, judge=judge(ctx), **params)
    items = []
    for i, s in enumerate(out["seeds"]):
        caption = N_(f"seed {s}") + " · " + N_(f"asked {out['labels'][i]}")
        if out["judge_pred"] is not None:
            p, c = out["judge_pred"][i], out["judge_conf"][i]
            caption += " · " + (N_(f"judge {p} ({c:.0%})") if p == out["labels"][i] else N_(f"judge {p} ({c:.0%}) ✗"))
        items.append((to_pil(out["images"][i], scale=4), caption))
    stats = N_(f"**Diversity** (mean pairwise RMS pixel distance): **{out['diversity']:.3f}**")
    if out["judge_pred"] is not None:
        agree = sum(p == a for p, a in zip(out["judge_pred"], out["labels"])) / len(out["labels"])
        mean_conf = sum(out["judge_conf"]) / len(out["judge_conf"])
        stats += " · " + N_(f"judge agrees with the digit asked for **{agree:.0%}**")
        stats += " · " + N_(f"mean confidence {mean_conf:.0%}")
    root_d = bundle_for(ctx, key).model.z_dim ** 0.5
    mean_norm = sum(out["latent_norms"]) / len(out["latent_norms"])
    stats += " · " + N_(f"mean ‖z‖ {mean_norm:.2f} (the prior's typical radius √d = {root_d:.2f})")
    recipe = Recipe(family="gan", action="grid", model=key, params=params, seed=first)
    return items, stats, recipe.to_json(), recipe.to_python()


@shared_args(*TRUNCATION_ARGS)
def gan_interpolate(ctx, model=None, digit="any", seed=0, seed_b=1, steps=10, truncation="none",
                    threshold=1.5, psi=0.7):
    """lerp and slerp strips from seed A to seed B.

    Args:
        model: a generator key.
        digit: the class, "0".."9", or "any" (each seed's own digit; the class embedding is interpolated too).
        seed: seed A.
        seed_b: seed B.
        steps: images along the path.
    """
    key, digit_value, seed_value, seed_b_value, n_steps, trunc, tau, psi_value = (
        model, digit, seed, seed_b, steps, truncation, threshold, psi)
    out = engine.interpolate(bundle_for(ctx, key), seed=engine.resolve_seed(seed_value),
                             seed_b=engine.resolve_seed(seed_b_value), steps=whole_number("Steps", n_steps),
                             digit=digit_value, truncation=trunc, threshold=tau, psi=psi_value, judge=judge(ctx))
    a, b = out["labels"]
    note = N_(f"‖z‖ along lerp: {min(out['lerp_norms']):.2f}..{max(out['lerp_norms']):.2f}; along slerp: "
              f"{min(out['slerp_norms']):.2f}..{max(out['slerp_norms']):.2f}.")
    note += "\n\n" + (N_(f"Digits {a} → {b} (the class embedding is interpolated too).") if a != b
                   else N_(f"Digits {a} → {b}."))
    n = len(out["t"])
    return image_grid(out["lerp"], n, scale=3), image_grid(out["slerp"], n, scale=3), note


@shared_args(*TRUNCATION_ARGS)
def gan_walk(ctx, model=None, digit="any", seed=0, seeds_visited=5, frames_between_seeds=12,
             truncation="none", threshold=1.5, psi=0.7):
    """A looping latent walk through consecutive seeds, as an animated GIF.

    Args:
        model: a generator key.
        digit: the class, "0".."9", or "any".
        seed: the first seed visited.
        seeds_visited: how many consecutive seeds the walk passes through.
        frames_between_seeds: frames on each leg (slerp).
    """
    key, digit_value, seed_value, n_stops, n_frames, trunc, tau, psi_value = (
        model, digit, seed, seeds_visited, frames_between_seeds, truncation, threshold, psi)
    out = engine.walk(bundle_for(ctx, key), seed=engine.resolve_seed(seed_value), stops=whole_number("Seeds visited", n_stops),
                      frames_per_leg=whole_number("Frames", n_frames), digit=digit_value, truncation=trunc,
                      threshold=tau, psi=psi_value)
    path = export_folder("gan-walk-") / "walk.gif"
    return write_gif([to_pil(f, scale=6) for f in out["frames"]], path, duration_ms=70)


def gan_story(ctx, model=None):
    """The shipped training log and snapshots: the loss curves and the same latents at saved steps.

    Args:
        model: a generator key whose checkpoint ships its training story (the built-in mnist-dcgan does).
    """
    key = model
    story = engine.training_story(bundle_for(ctx, key))
    if not story["history"]:
        raise StudioError(f"{key!r} ships no training log.")
    fig = loss_curves(story["history"], [("loss_d", T_("discriminator")), ("loss_g", T_("generator"))])
    return plot_of(fig), [(p, N_(f"step {s} (epoch {e})")) for p, s, e in story["snapshots"]]


def gan_add_model(ctx, source=""):
    """Add a generator saved in the studio's format (PyTorchModelHubMixin: config.json + model.safetensors of
    studio.gan.model.Generator) by Hugging Face Hub id or local folder, load it, and select it.

    Args:
        source: the Hub id or the folder's path (safetensors weights only).
    """
    spec, _ = add_model(ctx.registry, "gan", source)
    return gr.update(choices=ctx.registry.keys("gan"), value=spec.key)


def trunc_changed(t):
    return (gr.update(interactive=t == "resample", info=None if t == "resample" else "used by 'resample'"),
            gr.update(interactive=t == "rescale", info=None if t == "rescale" else "used by 'rescale'"))


def build_gan_tab(registry, settings) -> None:
    """Lay out the tab's controls and wire them to the handlers above (nothing here computes)."""
    ctx = GanContext.of(registry, settings)
    keys, default_model, max_side = registry.keys("gan"), ctx.default_model, ctx.max_side
    gr.Markdown("Every image below comes from one **seed**: the seed fixes the random latent vector z the "
                "generator turns into a digit. Same seed, same digit, on any machine. Under each image, the "
                "digit judge (a separate classifier) says what it sees.")
    with gr.Row():
        model = gr.Dropdown(keys, value=default_model, label="Generator", elem_id="gan-model", allow_custom_value=True)
        add_box, add_btn = add_model_box(registry, "gan", "Add a generator (studio format): Hub id or folder",
                                         "a folder saved with Generator.save_pretrained")
        digit = gr.Dropdown(list(engine.DIGITS), value="any", label="Digit", elem_id="gan-digit",
                            info="'any': each seed also draws its digit")
        seed = gr.Number(value=0, precision=0, label="First seed", elem_id="gan-seed")
        side = gr.Slider(1, max_side, value=min(4, max_side), step=1, label="Grid side N (N×N samples)",
                         elem_id="gan-side")
    with gr.Row():
        truncation = gr.Radio(list(engine.TRUNCATIONS), value="none", label="Truncation", elem_id="gan-truncation")
        threshold = gr.Slider(0.1, 4.0, value=1.5, step=0.05, label="Threshold τ (resample)", elem_id="gan-threshold",
                              interactive=False, info="used by 'resample'")
        psi = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="ψ (rescale)", elem_id="gan-psi", interactive=False,
                        info="used by 'rescale'")
    gr.Markdown(TRUNCATION_NOTE)
    sample_btn = gr.Button("Sample the grid", variant="primary", elem_id="gan-sample")
    gallery = gr.Gallery(label="Samples (seed · digit asked · judge's verdict)", columns=4, height="auto",
                         object_fit="contain", format="png", elem_id="gan-gallery")
    grid_stats = gr.Markdown(elem_id="gan-stats")
    with gr.Accordion("Interpolate between two seeds, and a looping walk", open=False):
        with gr.Row():
            seed_b = gr.Number(value=1, precision=0, label="Seed B (seed A is the first seed)", elem_id="gan-seed-b")
            steps = gr.Slider(2, 32, value=10, step=1, label="Steps", elem_id="gan-steps")
            interp_btn = gr.Button("Interpolate", elem_id="gan-interpolate")
        lerp_img = gr.Image(label="lerp: a straight line in latent space", format="png", elem_id="gan-lerp")
        slerp_img = gr.Image(label="slerp: along the sphere (the norm stays near √d)", format="png", elem_id="gan-slerp")
        interp_note = gr.Markdown(elem_id="gan-interp-note")
        with gr.Row():
            stops = gr.Slider(2, 16, value=5, step=1, label="Seeds visited by the walk", elem_id="gan-stops")
            frames = gr.Slider(2, 60, value=12, step=1, label="Frames between seeds", elem_id="gan-frames")
            walk_btn = gr.Button("Make the walk (GIF)", elem_id="gan-walk")
        walk_gif = gr.Image(label="Latent walk (loops)", type="filepath", elem_id="gan-walk-gif")
    with gr.Accordion("Watch it learn: the training story", open=False):
        story_btn = gr.Button("Show the training story", elem_id="gan-story")
        losses = gr.Plot(label="Generator and discriminator losses", elem_id="gan-losses")
        snaps = gr.Gallery(label="The same 40 latents during training", columns=3, format="png",
                           elem_id="gan-snapshots")
    with gr.Accordion("Recipe", open=False):
        recipe_json = gr.Code(language="json", label="Recipe", elem_id="gan-recipe")
        python_code = gr.Code(language="python", label="Reproduce with the engine", elem_id="gan-python")

    common = [truncation, threshold, psi]
    sample_btn.click(wired(gan_grid, ctx, gpu=True, replay=True, batched=True, grid_side=min(4, max_side)),
                     [model, digit, seed, side, *common], [gallery, grid_stats, recipe_json, python_code],
                     api_name="gan_grid", concurrency_id=HEAVY)
    interp_btn.click(wired(gan_interpolate, ctx, gpu=True, replay=True),
                     [model, digit, seed, seed_b, steps, *common], [lerp_img, slerp_img, interp_note],
                     api_name="gan_interpolate", concurrency_id=HEAVY)
    walk_btn.click(wired(gan_walk, ctx, gpu=True, replay=True),
                   [model, digit, seed, stops, frames, *common], walk_gif, api_name="gan_walk",
                   concurrency_id=HEAVY)
    story_btn.click(wired(gan_story, ctx), model, [losses, snaps], api_name="gan_story")
    add_btn.click(wired(gan_add_model, ctx, gpu=True), add_box, model, api_name="gan_add_model", concurrency_id=HEAVY)
    truncation.change(trunc_changed, truncation, [threshold, psi], api_visibility="private")
    side.change(lambda n: gr.Gallery(columns=int(n)), side, gallery, api_visibility="private")  # N×N looks N×N
