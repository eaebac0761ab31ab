"""The Text to image tab: a prompt becoming a picture, the Stable Diffusion way, step by step.

Its own tab rather than a prompt box on the Diffusion tab: the prompt replaces the digit, the picture goes through an
autoencoder the tab must show (z_t and ε̂ live in the latent, x̂₀ is decoded), and the tools people know from the
AUTOMATIC1111 web UI (negative prompt, size, variation seeds, a guidance × steps grid, settings read back from a
picture) belong with it; API and MCP clients find ``t2i_run`` by its name. What the two tabs share — the denoising
loop and its schedulers (studio/diffusion/loop.py), the step scrubber, the guidance view, the NFE-fair comparison with
its quiz, the schedule plot, img2img's source, export — is the same code (studio/diffusion/views_tab.py, pictures.py).

Handlers are module-level functions of a ``TextToImageContext`` and keyword arguments; ``build_t2i_tab`` lays out
and wires. The loop is in studio/diffusion/text_to_image/engine.py.

A picture's recipe (written into its PNG, read back, applied) is recipes_tab.py.

Why this module is long: ten endpoints (run, img2img, the scrubber, a full decode, compare and reveal, the guidance ×
steps grid, export, adding a model, the size controls) and their layout, the most of any tab; it holds no tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio import checks
from studio.config import Settings
from studio.diffusion import pictures, views_tab as views
from studio.diffusion.loop import MAX_GUIDANCE, SCHEDULER_NOTES, SCHEDULERS, guided, nfe, scheduler_name
from studio.diffusion.text_to_image import engine
from studio.diffusion.text_to_image.engine import DEFAULTS
from studio.diffusion.text_to_image.recipes_tab import (RECIPE_CHUNK, image_recipe, t2i_apply_recipe, t2i_restore,
                                                        with_recipe)
from studio.errors import StudioError
from studio.i18n import N_
from studio.plots import to_pil
from studio.recipe import Recipe
from studio.serving import serving_of
from studio.ui.common import Pace, add_model, add_model_box, default_key, family_bundle, judge_key, session_state
from studio.ui.wiring import HEAVY, wired

PROMPT = "a thick, slanted seven"
EXAMPLES = ["a thick, slanted seven", "a thin, upright one", "a wide zero", "an eight", "a narrow, slanted 4", ""]
INTRO_MORE = ("The prompt becomes numbers (tokens, then the text encoder's vectors c); the UNet denoises a small "
              "latent z, not the picture, steered by c through cross-attention; the autoencoder's decoder turns the "
              "last latent into pixels. Every step is kept: scrub through them after the run.")
PANEL_NOTE = ("z_t: the latent entering the step, its channels side by side (grey = 0, white = +3, black = −3). x̂₀: "
              "the clean picture the UNet's guess implies, decoded. ε̂: the predicted noise in the latent.")
GUIDANCE_NOTE = ("**Classifier-free guidance.** The UNet predicts the noise twice a step: with the prompt (c) and "
                 "with the negative prompt (c̄; empty = the unconditional model, trained with 10% of captions "
                 "dropped). ε̂ = ε̂(z_t, c̄) + w·(ε̂(z_t, c) − ε̂(z_t, c̄)): w = 1 the prompt alone, larger w pushes "
                 "away from the negative prompt: closer to the words, less varied.")


@dataclass(frozen=True)
class TextToImageContext:
    """The registry, the limits and the tab's defaults; bound by the wiring, never an argument of a call."""

    registry: object
    max_steps: int
    max_batch: int
    default_model: str | None
    judge_key: str | None
    max_work: int = Settings().max_work  # model evaluations × images × latent positions per request (STUDIO_MAX_WORK)

    @classmethod
    def of(cls, registry, settings) -> "TextToImageContext":
        return cls(registry=registry, max_steps=settings.max_diffusion_steps, max_batch=settings.max_batch,
                   default_model=default_key(registry, "t2i"), judge_key=judge_key(registry),
                   max_work=settings.max_work)


def check_work(ctx, bundle, evaluations: int, batch, height=None, width=None) -> None:
    """This request's work within the server's bound (studio.checks.work), counted in latent positions (what the
    UNet sees: the picture's pixels over the autoencoder's factor squared)."""
    h, w = engine.check_size(bundle, height, width)
    f = bundle.vae_scale_factor
    checks.work(evaluations, batch, (h // f) * (w // f), ctx.max_work,
                N_("the steps, the batch size, the size, the number of cells, or the guidance (w = 0 or 1 evaluates "
                   "the model once a step, not twice)"))


def run_work(ctx, bundle, params: dict) -> None:
    name, steps, guidance, batch, _ = engine.check_run(params["scheduler"], params["steps"],
                                                       params["guidance"], params["batch"], params["eta"],
                                                       max_steps=ctx.max_steps, max_batch=ctx.max_batch)
    check_work(ctx, bundle, nfe(name, steps, guidance if guided(guidance) else None), batch, params.get("height"),
               params.get("width"))


def bundle_for(ctx, key):
    return family_bundle(ctx.registry, key, "t2i", "text-to-image model")


def judge_for(ctx, bundle):
    """The digit judge, for a model that draws 32×32 grey digits (the built-in)."""
    if ctx.judge_key and bundle.image_channels == 1 and bundle.default_size == 32:
        return ctx.registry.get(ctx.judge_key).model
    return None


def params_of(prompt, negative_prompt, scheduler, steps, guidance, batch, eta, height, width, variation_seed,
              variation_strength) -> dict:
    p = {"prompt": prompt or "", "negative_prompt": negative_prompt or "", "scheduler": scheduler, "steps": steps,
         "guidance": guidance, "batch": batch, "eta": eta, "height": height, "width": width}
    if variation_seed is not None and int(variation_seed) >= 0 and float(variation_strength or 0) > 0:
        p.update(variation_seed=int(variation_seed), variation_strength=float(variation_strength))
    return p


def result_items(ctx, key, bundle, run, extra=None):
    j = judge_for(ctx, bundle)
    pred = conf = None
    if j is not None:
        pred, conf, _ = j.judge(run.images)
    items = []
    for i, s in enumerate(run.seeds):
        img = with_recipe(to_pil(pictures.unit(run.images[i]), scale=pictures.scale_for(run)),
                          image_recipe(key, run, i, extra))
        caption = N_(f"seed {s}")
        if pred is not None:
            caption += " · " + N_(f"judge reads {int(pred[i])} ({float(conf[i]):.0%})")
        items.append((img, caption))
    return items


def guidance_panel(run, k: int):
    img, gap = pictures.guidance(run, k)
    if img is None:
        return None, N_(f"Step {k + 1}: this run made one prediction per step (w = {run.guidance:g}), so there is "
                        "nothing to compare. Set guidance w to e.g. 4 and run again.")
    return img, N_(f"Step {k + 1} (t = {run.timesteps[k]:.0f}), w = {run.guidance:g}: rows are images; x̂₀ from the "
                   f"prompt, the negative prompt and guided, then their ε̂. RMS difference between the two ε̂ = "
                   f"{gap:.3f}; the guided ε̂ moves {run.guidance:g}× that far from the negative prompt's.")


def scrub_outputs(run, k):
    return views.scrub_outputs(run, k, guidance_panel)


def summary_of(run) -> str:
    tokens = " ".join(f"`{t}`" for t in run.tokens)
    guided = N_(" (two per step: guidance)") if run.eps_cond is not None else ""
    where = (N_("every step's x̂₀ through the full decoder") if run.preview == "decoder" else
             N_("x̂₀ previewed by a linear map of the latent (fitted to this model's autoencoder); the result through "
                "the full decoder; *Decode this step* shows any step fully"))
    lines = [N_(f"**Done**: {run.steps} steps of {run.scheduler}, **{run.nfe} model evaluations per image**{guided}, "
                f"w = {run.guidance:g}, seeds {run.seeds[0]}..{run.seeds[-1]}; {where}."),
             N_(f"Tokens the text encoder read: {tokens}")]
    return "\n\n".join(lines + [f"⚠️ {N_(n)}" for n in run.notes])


def shared_run(ctx, bundle, key, seed_value, params, extra=None):
    """``engine.iterate`` for this request: a batch of its own (text-to-image requests are not yet batched across
    users: a prompt changes the text encoder's input, the size the latent's; see #23), holding the compute gate a
    step at a time (``ComputeGate.sliced``: never while a preview is sent)."""
    served = serving_of(ctx.registry)
    yield from served.gate.sliced(engine.iterate(bundle, seed=seed_value, max_steps=ctx.max_steps,
                                                 max_batch=ctx.max_batch, **params, **(extra or {})))


def stream(ctx, key, bundle, seed_value, params, extra=None, note=None, recipe_extra=None):
    """The handlers' common stream: previews (paced), then the whole result (``note(run)``: a line added to its
    summary; ``recipe_extra``: what its recipe needs besides the run's settings)."""
    run_work(ctx, bundle, params)
    pace = Pace()
    run = None
    for k, total, out in shared_run(ctx, bundle, key, seed_value, params, extra):
        if isinstance(out, engine.TextToImageRun):
            run = out
            run.x0_hat.reload = lambda: bundle_for(ctx, key)  # a kept run outlives an unload: its model comes back
            break
        if pace.due():
            yield (N_(f"step {k} of {total}") + f" · t = {out['t']:.0f}",
                   *pictures.preview(engine.frame_picture(bundle, out),
                                     bundle.default_size if params.get("height") is None else params["height"]),
                   *[gr.skip()] * 8)
    last = run.steps - 1
    xt, x0, eps, sched_img, g_img, g_note = scrub_outputs(run, last)
    recipe = image_recipe(key, run, 0, recipe_extra) if run.settings.get("batch", 1) == 1 else Recipe(
        family="t2i", action="img2img" if "strength" in run.settings else "run", model=key,
        params=dict(run.settings) | (recipe_extra or {}), seed=run.seeds[0])
    summary = summary_of(run) + ("\n\n" + note(run) if note else "")
    yield (summary, xt, x0, eps, gr.Slider(minimum=1, maximum=max(run.steps, 2), value=run.steps, step=1),
           sched_img, result_items(ctx, key, bundle, run, recipe_extra), run, g_img, g_note, recipe.to_json(),
           recipe.to_python())


# --- handlers ---------------------------------------------------------------------------------------------------

def t2i_run(ctx, model=None, prompt=PROMPT, negative_prompt="", scheduler=DEFAULTS["scheduler"],
            steps=DEFAULTS["steps"], eta=0.0, guidance_scale=DEFAULTS["guidance"], seed=0, batch_size=4, height=None,
            width=None, variation_seed=-1, variation_strength=0.0):
    """Draw the prompt: the reverse process in the latent, streaming z_t | x̂₀ | ε̂; then the result (each picture
    carries its recipe in a PNG text chunk), the scrubber at the last step, the schedule plot, the guidance view and
    the recipe. Every argument has a default.

    Args:
        model: a text-to-image model key (the built-in mnist-t2i, or a Stable Diffusion Hub id / folder that was added).
        prompt: what to draw; empty = the unconditional model.
        negative_prompt: what to steer away from (replaces the unconditional prediction in guidance).
        scheduler: the diffusers scheduler ("DDPM", "DDIM", "DPM-Solver++ 2M", "Euler", "Euler ancestral", "Heun",
            "UniPC").
        steps: denoising steps.
        eta: DDIM's noise (0 = deterministic); other schedulers ignore it.
        guidance_scale: classifier-free guidance w (1 = the prompt alone, 0 = the negative prompt alone).
        seed: image i uses seed + i; -1 draws a fresh seed.
        batch_size: pictures drawn at once.
        height: pixels, a multiple of the autoencoder's factor (empty: the model's size).
        width: pixels, likewise.
        variation_seed: a second seed (-1 = none): each picture's starting noise is slerped towards its noise.
        variation_strength: how far towards the variation seed's noise, 0..1.
    """
    bundle = bundle_for(ctx, model)
    seed_value = engine.resolve_seed(seed)
    params = params_of(prompt, negative_prompt, scheduler, steps, guidance_scale, batch_size, eta, height, width,
                       variation_seed, variation_strength)
    yield from stream(ctx, model, bundle, seed_value, params)


def t2i_img2img(ctx, model=None, prompt=PROMPT, negative_prompt="", scheduler=DEFAULTS["scheduler"],
                steps=DEFAULTS["steps"], eta=0.0, guidance_scale=DEFAULTS["guidance"], seed=0, batch_size=4,
                source="held-out digit", heldout_index=0, upload=None, sketch=None, strength=0.6):
    """img2img (SDEdit): encode a picture, noise it to the strength, and denoise with the prompt; streams like
    t2i_run.

    Args:
        model: a text-to-image model key.
        prompt: what to turn the picture into.
        negative_prompt: what to steer away from.
        scheduler: the diffusers scheduler.
        steps: steps of the whole schedule; strength × steps of them run.
        eta: DDIM's noise.
        guidance_scale: classifier-free guidance w.
        seed: image i's noise uses seed + i; -1 draws a fresh seed.
        batch_size: pictures drawn at once, each from the same starting picture.
        source: "held-out digit", "upload" or "drawing".
        heldout_index: which held-out digit (0..999) when source is "held-out digit".
        upload: a picture file when source is "upload".
        sketch: a drawing when source is "drawing".
        strength: 0..1, how much of the schedule is run again (1 = the picture forgotten, low = kept).
    """
    bundle = bundle_for(ctx, model)
    seed_value = engine.resolve_seed(seed)
    picture, what = views.img2img_source(bundle.default_size, bundle.image_channels, source, heldout_index, upload,
                                         sketch)
    params = params_of(prompt, negative_prompt, scheduler, steps, guidance_scale, batch_size, eta, None, None, -1, 0)
    params["height"] = params["width"] = bundle.default_size
    yield from stream(ctx, model, bundle, seed_value, params, {"init_image": picture, "strength": strength},
                      note=lambda run: N_(f"Started from {what}, noised to strength {float(strength):g}: "
                                          f"{run.steps} of {run.settings['steps']} steps run."),
                      recipe_extra={"source": source, "heldout_index": int(heldout_index) if source == "held-out digit"
                                    else None})


def t2i_step(ctx, model=None, run=None, k=1):
    """The scrubber: show step k of the kept run (nothing is recomputed, and the model is not needed: the guidance
    view's two other predictions are kept with the run)."""
    if run is None:
        raise StudioError("Run first; the scrubber shows the steps of the last run.")
    k = engine.whole_number("step", k, 1, run.steps) - 1
    return scrub_outputs(run, k)


def t2i_decode_step(ctx, model=None, run=None, step=1):
    """Step ``step``'s x̂₀ of this session's last run through the full decoder (a big model's steps are previewed by
    a linear map of the latent). Needs a t2i_run first.

    Args:
        model: the text-to-image model key of that run.
        step: which step, 1..steps.
    """
    if run is None:
        raise StudioError("Run first (t2i_run); this decodes a step of this session's last run.")
    bundle = bundle_for(ctx, model)
    k = engine.whole_number("step", step, 1, run.steps) - 1
    pics = engine.decode_step(bundle, run, k)  # (the wiring holds the compute gate: gpu=True)
    return pictures.grid(pics, scale=pictures.scale_for(run)), N_(f"Step {k + 1}: x̂₀ through the full decoder.")


def t2i_compare(ctx, model=None, prompt=PROMPT, negative_prompt="", schedulers=("DDIM", "DPM-Solver++ 2M", "Heun"),
                nfe_budget=10, eta=0.0, guidance_scale=DEFAULTS["guidance"], seed=0, batch_size=1, quiz=False):
    """The same prompt and starting noise through up to three schedulers at an equal number of model evaluations.

    Args:
        model: a text-to-image model key.
        prompt: what to draw.
        negative_prompt: what to steer away from.
        schedulers: one to three scheduler names.
        nfe_budget: model evaluations per image (before guidance) each scheduler may spend; Heun spends two a step.
        eta: DDIM's noise.
        guidance_scale: classifier-free guidance w.
        seed: the shared seed; -1 draws a fresh one.
        batch_size: pictures per scheduler.
        quiz: shuffle the strips and hide which scheduler made each until t2i_reveal.
    """
    bundle = bundle_for(ctx, model)
    if not schedulers:
        raise StudioError("Tick one to three schedulers to compare.")
    names = [schedulers] if isinstance(schedulers, str) else list(schedulers)
    try:
        _, n_budget, w_value, b_value, _ = engine.check_run("DDIM", nfe_budget, guidance_scale, batch_size, eta,
                                                             max_steps=ctx.max_steps, max_batch=ctx.max_batch)
    except ValueError:
        n_budget = None  # engine.compare says what is wrong, in its own words
    if n_budget is not None:  # each scheduler spends the same budget
        check_work(ctx, bundle, len(names) * nfe("DDIM", n_budget, w_value if guided(w_value) else None), b_value)
    with serving_of(ctx.registry).gate:
        runs = engine.compare(bundle, seed=engine.resolve_seed(seed), prompt=prompt or "",
                              negative_prompt=negative_prompt or "", schedulers=names, nfe_budget=nfe_budget,
                              guidance=guidance_scale, batch=batch_size, eta=eta, max_steps=ctx.max_steps,
                              max_batch=ctx.max_batch)
    return views.compared(runs, quiz, start="z_T")


def t2i_reveal(answer=None):
    """The answer to this session's last quiz comparison. Needs a t2i_compare with quiz=True first."""
    return views.reveal(answer, "t2i_compare")


def t2i_grid(ctx, model=None, prompt=PROMPT, negative_prompt="", scheduler=DEFAULTS["scheduler"],
             guidances="1, 2, 4, 8", steps_list="5, 10, 20", seed=0):
    """A guidance × steps grid: every cell starts from the seed's one z_T; rows are step counts, columns guidance
    scales; each cell says its model evaluations (NFE).

    Args:
        model: a text-to-image model key.
        prompt: what to draw.
        negative_prompt: what to steer away from.
        scheduler: the diffusers scheduler.
        guidances: guidance scales w, comma-separated (1 to 6).
        steps_list: step counts, comma-separated (1 to 6).
        seed: the seed of the shared starting noise; -1 draws a fresh one.
    """
    bundle = bundle_for(ctx, model)
    ws, ss = numbers_of(guidances, "guidance scales"), numbers_of(steps_list, "step counts")
    if 1 <= len(ws) <= 6 and 1 <= len(ss) <= 6 and all(0 <= w <= MAX_GUIDANCE for w in ws) and all(
            1 <= s <= ctx.max_steps and float(s).is_integer() for s in ss):  # (else the engine says what is wrong)
        check_work(ctx, bundle, sum(nfe(scheduler_name(scheduler), int(s), w if guided(w) else None)
                                    for s in ss for w in ws), 1)
    with serving_of(ctx.registry).gate:
        g = engine.guidance_steps_grid(bundle, seed=engine.resolve_seed(seed), prompt=prompt or "",
                                       negative_prompt=negative_prompt or "", scheduler=scheduler, guidances=ws,
                                       steps_list=ss, max_steps=ctx.max_steps)
    items = [(to_pil(pictures.unit(c["image"]), scale=pictures.scale_for(c["image"].shape[-1])),
              N_(f"{c['steps']} steps · w = {c['guidance']:g} · NFE {c['nfe']}")) for c in g["cells"]]
    note = N_(f"Every cell starts from seed {g['seed']}'s z_T. Rows: {', '.join(map(str, g['steps']))} steps; "
              f"columns: w = {', '.join(f'{w:g}' for w in g['guidances'])}. A cell with w ≠ 0, 1 evaluates the UNet "
              "twice a step.")
    return gr.update(value=items, columns=len(g["guidances"])), note


def numbers_of(text, what: str) -> list[float]:
    if isinstance(text, (list, tuple)):
        return [float(v) for v in text]
    try:
        values = [float(part) for part in str(text).replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise StudioError(N_(f"The {what} must be numbers separated by commas, e.g. 1, 2, 4; got {text!r}.")) from None
    if not values:
        raise StudioError(N_(f"Give at least one of the {what}."))
    return values


def t2i_export(ctx, model=None, run=None):
    """This session's last run as a GIF (z_t | x̂₀ per step) and a PNG strip carrying the run's recipe; file paths.
    Needs a t2i_run first.

    Args:
        model: the text-to-image model key of that run.
    """
    if run is None:
        raise StudioError("Run first (t2i_run); export saves this session's last run.")
    return views.export_run(run, "t2i-export-", "text-to-image.gif", "text-to-image-strip.png",
                            {RECIPE_CHUNK: image_recipe(model, run, 0).to_json(indent=None)})


def t2i_add_model(ctx, source=""):
    """Add a text-to-image model by Hugging Face Hub id (a Stable Diffusion pipeline: stable-diffusion-v1-5/
    stable-diffusion-v1-5, stabilityai/sd-turbo, ...) or a local pipeline folder, load it, and select it.

    Args:
        source: the Hub id or the folder's path (safetensors weights only).
    """
    spec, _ = add_model(ctx.registry, "t2i", source)
    return gr.update(choices=ctx.registry.keys("t2i"), value=spec.key)


def pipeline_size(folder: Path) -> tuple[int, int] | None:
    """(the model's picture size, the autoencoder's factor) read from a pipeline folder's configs, no weights."""
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
        factor = 2 ** (len(vae["block_out_channels"]) - 1)
        s = unet["sample_size"]
        return int(s if isinstance(s, int) else s[0]) * factor, factor
    except (OSError, ValueError, KeyError, TypeError):
        return None


def size_controls(ctx, key):
    """Picking a model sets the size sliders to its size and its autoencoder's factor."""
    if not key or key not in ctx.registry.keys("t2i") or not ctx.registry.is_loaded(key):
        return gr.skip(), gr.skip()
    b = ctx.registry.get(key)
    f, size = b.vae_scale_factor, b.default_size
    return (gr.update(minimum=f, maximum=2 * size, step=f, value=size),
            gr.update(minimum=f, maximum=2 * size, step=f, value=size))


# --- layout -------------------------------------------------------------------------------------------------------

def build_t2i_tab(registry, settings) -> None:
    """Lay out the tab's controls and wire them to the handlers above (nothing here computes)."""
    ctx = TextToImageContext.of(registry, settings)
    spec = registry.spec(ctx.default_model) if ctx.default_model else None
    size, factor = (pipeline_size(Path(spec.source)) if spec is not None and spec.is_local else None) or (512, 8)
    gr.Markdown(INTRO_MORE)
    with gr.Row():
        model = gr.Dropdown(registry.keys("t2i"), value=ctx.default_model, label="Model", elem_id="t2i-model",
                            allow_custom_value=True, scale=2)
        with gr.Column(scale=2):
            hub_id, hub_btn = add_model_box(registry, "t2i", "Add a Stable Diffusion pipeline: Hub id or folder",
                                            "e.g. stabilityai/sd-turbo")
    prompt = gr.Textbox(value=PROMPT, label="Prompt", elem_id="t2i-prompt", lines=1,
                        info="empty = the unconditional model")
    negative = gr.Textbox(value="", label="Negative prompt", elem_id="t2i-negative", lines=1,
                          info="what guidance steers away from (empty = the unconditional prediction)")
    gr.Examples(EXAMPLES, prompt, label="Prompts the built-in model was trained on (digits, thickness, slant, width)")
    with gr.Row():
        scheduler = gr.Dropdown(list(SCHEDULERS), value=DEFAULTS["scheduler"], label="Scheduler", elem_id="t2i-scheduler")
        steps = gr.Slider(1, min(settings.max_diffusion_steps, 150), value=DEFAULTS["steps"], step=1, label="Steps",
                          elem_id="t2i-steps")
        eta = views.eta_slider("t2i", DEFAULTS["scheduler"])
        guidance = gr.Slider(0, engine.MAX_GUIDANCE, value=DEFAULTS["guidance"], step=0.25, label="Guidance w",
                             elem_id="t2i-guidance")
    with gr.Row():
        seed = gr.Number(value=0, precision=0, label="Seed (image i uses seed + i; -1 = random)", elem_id="t2i-seed")
        batch = gr.Slider(1, settings.max_batch, value=min(4, settings.max_batch), step=1, label="Batch size",
                          elem_id="t2i-batch")
        height = gr.Slider(factor, 2 * size, value=size, step=factor, label="Height (px)", elem_id="t2i-height")
        width = gr.Slider(factor, 2 * size, value=size, step=factor, label="Width (px)", elem_id="t2i-width")
    with gr.Row():
        var_seed = gr.Number(value=-1, precision=0, label="Variation seed (-1 = none)", elem_id="t2i-var-seed")
        var_strength = gr.Slider(0, 1, value=0, step=0.05, label="Variation strength (slerp of the starting noise)",
                                 elem_id="t2i-var-strength")
    sched_note = gr.Markdown(f"**{DEFAULTS['scheduler']}**: {SCHEDULER_NOTES[DEFAULTS['scheduler']]}",
                             elem_id="t2i-sched-note")
    with gr.Row():
        run_btn = gr.Button("Draw the prompt", variant="primary", elem_id="t2i-run")
        stop_btn = gr.Button("Stop", elem_id="t2i-stop", scale=0)
    progress = gr.Markdown(elem_id="t2i-progress")
    decode = []

    def decode_row():  # between the step slider and the schedule: this step through the full decoder
        with gr.Row():
            decode.append(gr.Button("Decode this step fully", elem_id="t2i-decode", scale=0))
            decode.append(gr.Image(label="This step's x̂₀, full decoder", format="png", elem_id="t2i-decoded",
                                   height=160))
            decode.append(gr.Markdown(elem_id="t2i-decode-note"))

    panels = views.scrubber("t2i", ("z_t (the latent's channels)", "x̂₀ decoded (the picture the guess implies)",
                                    "ε̂ (predicted noise in the latent)"), PANEL_NOTE, DEFAULTS["steps"], decode_row)
    xt_img, x0_img, eps_img, scrub, schedule_img = panels.xt, panels.x0, panels.eps, panels.scrub, panels.schedule
    decode_btn, decoded, decode_note = decode
    result = gr.Gallery(label="Result (seed · judge's reading); each PNG carries its recipe", columns=4,
                        height="auto", object_fit="contain", format="png", elem_id="t2i-result")
    run_state = session_state()
    guide_img, guide_note = views.guidance_view(
        "t2i", GUIDANCE_NOTE, "At the scrubbed step, per image (rows): x̂₀ from the prompt | negative prompt | guided, "
                              "then their ε̂")
    i2i = views.img2img("img2img (SDEdit): start from a picture, noised to a strength",
                        {"source": "t2i-src", "index": "t2i-src-index", "strength": "t2i-strength",
                         "upload": "t2i-src-upload", "sketch": "t2i-src-sketch", "button": "t2i-img2img"},
                        "Run img2img")
    cmp = views.comparison("t2i", "prompt", schedulers=("DDIM", "DPM-Solver++ 2M", "Heun"), nfe_max=100, nfe_default=10)
    with gr.Accordion("Guidance × steps grid: one starting noise, every cell", open=False):
        with gr.Row():
            grid_ws = gr.Textbox(value="1, 2, 4, 8", label="Guidance scales w", elem_id="t2i-grid-ws")
            grid_steps = gr.Textbox(value="5, 10, 20", label="Step counts", elem_id="t2i-grid-steps")
            grid_btn = gr.Button("Draw the grid", elem_id="t2i-grid")
        grid_gallery = gr.Gallery(label="Rows: steps; columns: w (each cell: its NFE)", columns=4, height="auto",
                                  object_fit="contain", format="png", elem_id="t2i-grid-gallery")
        grid_note = gr.Markdown(elem_id="t2i-grid-note")
    with gr.Accordion("Export, recipe, and settings from a picture", open=False):
        export = views.export_box("t2i", "GIF: z_t | x̂₀ step by step", "PNG strip (carries the recipe)")
        drop = gr.File(label="Drop a PNG made here: its settings come back", file_types=[".png"], type="filepath",
                       elem_id="t2i-drop")
        restore_note = gr.Markdown(elem_id="t2i-restore-note")

    # --- wiring -------------------------------------------------------------------------------------------------
    recipe_json, python_code = export.recipe, export.python
    outputs = [progress, xt_img, x0_img, eps_img, scrub, schedule_img, result, run_state, guide_img, guide_note,
               recipe_json, python_code]
    controls = [model, prompt, negative, scheduler, steps, eta, guidance, seed, batch, height, width, var_seed,
                var_strength]
    run_event = run_btn.click(wired(t2i_run, ctx, gpu=True, replay=True, batched=True), controls, outputs,
                              api_name="t2i_run", concurrency_id=HEAVY)
    i2i_event = i2i.button.click(wired(t2i_img2img, ctx, gpu=True, batched=True),
                                 [model, prompt, negative, scheduler, steps, eta, guidance, seed, batch, *i2i.inputs],
                                 outputs, api_name="t2i_img2img", concurrency_id=HEAVY)
    stop_btn.click(None, None, None, cancels=[run_event, i2i_event], api_visibility="private")
    scrub.change(wired(t2i_step, ctx), [model, run_state, scrub],
                 [xt_img, x0_img, eps_img, schedule_img, guide_img, guide_note],
                 api_visibility="private", trigger_mode="always_last")
    decode_btn.click(wired(t2i_decode_step, ctx, gpu=True), [model, run_state, scrub], [decoded, decode_note],
                     api_name="t2i_decode_step", concurrency_id=HEAVY)
    cmp.button.click(wired(t2i_compare, ctx, gpu=True, replay=True, batched=True),
                     [model, prompt, negative, cmp.schedulers, cmp.nfe, eta, guidance, seed, batch, cmp.quiz],
                     [cmp.gallery, cmp.note, cmp.answer], api_name="t2i_compare", concurrency_id=HEAVY)
    cmp.reveal.click(wired(t2i_reveal, ctx), cmp.answer, cmp.note, api_name="t2i_reveal")
    grid_btn.click(wired(t2i_grid, ctx, gpu=True, replay=True, batched=True),
                   [model, prompt, negative, scheduler, grid_ws, grid_steps, seed], [grid_gallery, grid_note],
                   api_name="t2i_grid", concurrency_id=HEAVY)
    export.button.click(wired(t2i_export, ctx), [model, run_state], [export.gif, export.png], api_name="t2i_export")
    restored = [model, prompt, negative, scheduler, steps, eta, guidance, seed, batch, height, width, var_seed,
                var_strength, restore_note]
    export.apply.click(wired(t2i_apply_recipe, ctx), recipe_json, restored, api_name="t2i_apply_recipe")
    drop.upload(wired(t2i_restore, ctx), drop, restored, api_name="t2i_restore")
    hub_btn.click(wired(t2i_add_model, ctx, gpu=True), hub_id, model, api_name="t2i_add_model", concurrency_id=HEAVY)
    model.change(wired(size_controls, ctx), model, [height, width], api_visibility="private")
    scheduler.change(views.scheduler_changed, scheduler, [sched_note, eta], api_visibility="private")
