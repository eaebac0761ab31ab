"""The Diffusion tab: the reverse process run live, every step kept and scrubbable.

The handlers are module-level functions of a ``DiffusionContext`` and keyword arguments (a test calls
``diffusion_run(ctx, model="mnist-ddpm", steps=4)``); ``build_diffusion_tab`` only lays out and wires. The loop
is in studio.diffusion.loop and engine, the pictures in studio.diffusion.pictures; what this tab shows as the Text to
image tab does (the scrubber, the guidance view, the comparison and its quiz, img2img's source, export) is built by
studio.diffusion.views_tab."""

from __future__ import annotations

import math
from dataclasses import dataclass

import gradio as gr

from studio import checks
from studio.config import Settings
from studio.data import heldout_digit
from studio.diffusion import engine, pictures, views_tab as views
from studio.diffusion.engine import COMPARE_DEFAULTS, DEFAULTS
from studio.diffusion.loader import num_classes_of
from studio.errors import StudioError
from studio.i18n import N_
from studio.recipe import Recipe
from studio.serving import serving_of
from studio.ui.common import Pace, add_model, add_model_box, default_key, family_bundle, judge_key, session_state
from studio.ui.wiring import HEAVY, wired

INTRO_MORE = ("The scheduler decides how big each step is and how the next x_t follows from the guess. Every step "
              "is kept: scrub through them after the run.")
GUIDANCE_NOTE = (
    "**Classifier-free guidance.** The model was trained to work with and without the digit (label dropped 10% "
    "of the time). At each step it makes both predictions, and the guided one exaggerates their difference: "
    "ε̂ = ε̂(x_t, ∅) + w·(ε̂(x_t, y) − ε̂(x_t, ∅)). w = 0 ignores the digit, w = 1 is the plain conditional "
    "model, w > 1 pushes further toward the digit: cleaner, more typical, less varied."
)
PANEL_NOTE = ("x_t: the sample entering the step (shown in [−1, 1]). x̂₀: the clean image the network's guess "
              "implies. ε̂: the predicted noise (grey = 0, white = +2, black = −2).")
FORWARD_TS = (0, 25, 50, 100, 200, 300, 500, 700, 999)

@dataclass(frozen=True)
class DiffusionContext:
    """What the handlers need besides their arguments: the registry, the limits and the tab's defaults. The
    wiring binds it (``bind``), so it is never an argument of the call Gradio (or ZeroGPU) sees."""

    registry: object
    max_steps: int
    max_batch: int
    default_model: str | None
    judge_key: str | None
    max_work: int = Settings().max_work  # model evaluations × images × pixels one request may ask (STUDIO_MAX_WORK)

    @classmethod
    def of(cls, registry, settings) -> "DiffusionContext":
        return cls(registry=registry, max_steps=settings.max_diffusion_steps, max_batch=settings.max_batch,
                   default_model=default_key(registry, "diffusion"), judge_key=judge_key(registry),
                   max_work=settings.max_work)


LOWER = N_("the steps, the batch size, or the guidance (w = 0 or 1 evaluates the model once a step, not twice)")


def check_work(ctx, bundle, name, steps, guidance, batch, runs=1):
    """This request's work within the server's bound (studio.checks.work): ``runs`` runs of ``steps`` steps."""
    evaluations = runs * engine.nfe(name, steps, guidance if engine.guided(guidance) else None)
    checks.work(evaluations, batch, bundle.sample_size ** 2, ctx.max_work, LOWER)


# --- helpers (ctx: the tab's DiffusionContext) ---------------------------------------------------------
def bundle_for(ctx, key):
    return family_bundle(ctx.registry, key, "diffusion", "diffusion model")


def judge_for(ctx, bundle):
    if ctx.judge_key and bundle.in_channels == 1 and bundle.num_classes == 10 and bundle.sample_size in (28, 32):
        return ctx.registry.get(ctx.judge_key).model
    return None


def params_of(sched_name, n_steps, w, digit_value, n_batch, eta_value) -> dict:
    return {"scheduler": sched_name, "steps": n_steps, "guidance": w, "digit": digit_value, "batch": n_batch,
            "eta": eta_value}


def guidance_panel(run: engine.DiffusionRun, k: int):
    img, gap = pictures.guidance(run, k)
    if img is None:
        return None, N_(f"Step {k + 1} (t = {run.timesteps[k]:.0f}): this run made one prediction per step (w = "
                        f"{run.guidance:g}, or no digit), so there is nothing to compare. Set guidance w to e.g. 3 "
                        "and run again.")
    return img, N_(f"Step {k + 1} (t = {run.timesteps[k]:.0f}), w = {run.guidance:g}: RMS difference between the "
                   f"conditional and unconditional ε̂ = {gap:.3f}; the guided ε̂ moves {run.guidance:g}× that far "
                   f"from the unconditional one.")


def scrub_outputs(run, k):
    return views.scrub_outputs(run, k, guidance_panel)


def result_items(ctx, bundle, run):
    j = judge_for(ctx, bundle)
    images = run.images
    pred = conf = None
    if j is not None:
        pred, conf, _ = j.judge(images)
    items = []
    for i, (s, img) in enumerate(zip(run.seeds, pictures.result_images(run))):
        label = run.labels[i]
        caption = N_(f"seed {s}") + " · " + (N_("no class") if label is None else N_(f"asked {label}"))
        if pred is not None:
            p, c = int(pred[i]), float(conf[i])
            caption += " · " + (N_(f"judge {p} ({c:.0%}) ✗") if label is not None and p != label
                                else N_(f"judge {p} ({c:.0%})"))
        items.append((img, caption))
    return items


def recipe_of(key, run, extra: dict | None = None) -> Recipe:
    """The run's recipe; ``extra``: what the engine call needs besides its settings (img2img's starting picture)."""
    p = dict(run.settings) | (extra or {})
    return Recipe(family="diffusion", action="img2img" if "strength" in p else "run", model=key, params=p,
                  seed=run.seeds[0])


def shared_run(ctx, bundle, seed_value, params):
    """``engine.iterate`` for this request, run in one batch with other users' runs of the same model, scheduler,
    steps, guidance and η (studio/serving/batcher.py; alone when batching is off). Checked first, so one
    user's bad input fails their own request, not the batch."""
    name, steps, guidance, batch, eta = engine.check_run(params["scheduler"], params["steps"],
                                                         params["guidance"], params["batch"], params["eta"],
                                                         max_steps=ctx.max_steps, max_batch=ctx.max_batch)
    check_work(ctx, bundle, name, steps, guidance, batch)
    unconditional = engine.check_digit(bundle, params["digit"]) is None
    common = {"scheduler": name, "steps": steps, "guidance": guidance, "eta": eta, "max_steps": ctx.max_steps}
    request = {"seed": seed_value, "batch": batch, "digit": params["digit"]}
    key = ("diffusion", id(bundle.unet), name, steps, guidance, eta, unconditional)
    return serving_of(ctx.registry).batcher.submit(
        key, request, batch, lambda requests: engine.iterate_many(bundle, requests, **common),
        max_rows=max(32, ctx.max_batch), newest=True)


# --- handlers: what the tab's events call (wrapped in user_errors, and GPU for the heavy ones, when wired) ---
def diffusion_run(ctx, model=None, scheduler=DEFAULTS["scheduler"], steps=DEFAULTS["steps"], eta=0.0,
                  digit="any", guidance_scale=DEFAULTS["guidance"], seed=0, batch_size=1):
    """Run the reverse process, streaming x_t | x̂₀ | ε̂ as it goes; then the result, the scrubber at the last
    step, the schedule plot, the guidance view and the recipe. Every argument has a default.

    Args:
        model: a diffusion model key (built-in, or a Hub id / local folder that was added).
        scheduler: the diffusers scheduler ("DDPM", "DDIM", "DPM-Solver++ 2M", "Euler", "Euler ancestral",
            "Heun", "UniPC").
        steps: denoising steps.
        eta: DDIM's noise (0 = deterministic, 1 = as noisy as DDPM); other schedulers ignore it.
        digit: the class to draw, "0".."9"; "any" lets each seed draw one; "none" = unconditional.
        guidance_scale: classifier-free guidance w (0 ignores the digit, 1 = plain conditional).
        seed: image i uses seed + i; -1 draws a fresh seed.
        batch_size: images drawn at once.
    """
    key, sched_name, n_steps, eta_value, digit_value, w, seed_value, n_batch = (
        model, scheduler, steps, eta, digit, guidance_scale, seed, batch_size)
    bundle = bundle_for(ctx, key)
    seed_value = engine.resolve_seed(seed_value)
    params = params_of(sched_name, n_steps, w, digit_value, n_batch, eta_value)
    yield from stream(ctx, key, bundle, shared_run(ctx, bundle, seed_value, params))


def stream(ctx, key, bundle, steps, note=None, recipe_extra=None):
    """Previews of a run's ``steps`` (paced), then the result, the scrubber at the last step, the schedule, the
    guidance view and the recipe (``note(run)``: a line added to the summary)."""
    pace = Pace()
    for k, total, out in steps:
        if isinstance(out, engine.DiffusionRun):
            run = out
            break
        if pace.due():  # at most ten previews a second (Pace); the scrubber shows every step afterwards
            yield (N_(f"step {k} of {total}") + f" · t = {out['t']:.0f}", *pictures.preview(out, bundle.sample_size),
                   *[gr.skip()] * 8)
    last = run.steps - 1
    xt, x0, eps, sched_img, g_img, g_note = scrub_outputs(run, last)
    recipe = recipe_of(key, run, recipe_extra)
    guided = N_(" (two per step: guidance)") if run.eps_cond is not None else ""
    summary = N_(f"**Done**: {run.steps} steps of {run.scheduler}, **{run.nfe} model evaluations per image**"
                 f"{guided}, w = {run.guidance:g}, seeds {run.seeds[0]}..{run.seeds[-1]}.")
    if note:
        summary += "\n\n" + note(run)
    yield (summary, xt, x0, eps, gr.Slider(minimum=1, maximum=max(run.steps, 2), value=run.steps, step=1),
           sched_img, result_items(ctx, bundle, run), run, g_img, g_note, recipe.to_json(), recipe.to_python())


def diffusion_img2img(ctx, model=None, scheduler=DEFAULTS["scheduler"], steps=DEFAULTS["steps"], eta=0.0, digit="any",
                      guidance_scale=DEFAULTS["guidance"], seed=0, batch_size=1, source="held-out digit",
                      heldout_index=0, upload=None, sketch=None, strength=0.6):
    """img2img (SDEdit): noise a picture to the strength and denoise it towards the digit; streams like
    diffusion_run.

    Args:
        model: a diffusion model key.
        scheduler: the diffusers scheduler.
        steps: steps of the whole schedule; strength × steps of them run.
        eta: DDIM's noise.
        digit: the class to steer to, "0".."9"; "any" lets each seed draw one; "none" = unconditional.
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
    picture, what = views.img2img_source(bundle.sample_size, bundle.in_channels, source, heldout_index, upload, sketch)
    name, n_steps, w, n_batch, eta_value = engine.check_run(scheduler, steps, guidance_scale, batch_size, eta,
                                                            max_steps=ctx.max_steps, max_batch=ctx.max_batch)
    check_work(ctx, bundle, name, n_steps, w, n_batch)

    def steps_of():  # the compute gate held a step at a time, never while a preview is sent
        yield from serving_of(ctx.registry).gate.sliced(engine.iterate(
            bundle, seed=seed_value, scheduler=name, steps=n_steps, guidance=w, digit=digit, batch=n_batch,
            eta=eta_value, max_steps=ctx.max_steps, max_batch=ctx.max_batch, init_image=picture, strength=strength))

    yield from stream(ctx, model, bundle, steps_of(),
                      note=lambda run: N_(f"Started from {what}, noised to strength {float(strength):g}: "
                                          f"{run.steps} of {n_steps} steps run."),
                      recipe_extra={"source": source,
                                    "heldout_index": int(heldout_index) if source == "held-out digit" else None})


def diffusion_step(run, k):
    """The scrubber: show step k of the kept run (nothing is recomputed)."""
    if run is None:
        raise StudioError("Run the reverse process first; the scrubber shows the steps of the last run.")
    k = checks.whole_number("step", k, 1, run.steps) - 1
    return scrub_outputs(run, k)


def diffusion_compare(ctx, model=None, schedulers=COMPARE_DEFAULTS["schedulers"],
                      nfe_budget=COMPARE_DEFAULTS["nfe_budget"],
                      eta=0.0, digit="any", guidance_scale=DEFAULTS["guidance"], seed=0, batch_size=1, quiz=False):
    """The same seed and starting noise through up to three schedulers at an equal number of model evaluations.

    Args:
        model: a diffusion model key.
        schedulers: one to three scheduler names.
        nfe_budget: model evaluations per image (before guidance) each scheduler may spend; Heun spends two
            per step.
        eta: DDIM's noise.
        digit: the class to draw, "0".."9", "any" or "none".
        guidance_scale: classifier-free guidance w.
        seed: the shared seed; -1 draws a fresh one.
        batch_size: images per scheduler.
        quiz: shuffle the strips and hide which scheduler made each until diffusion_reveal.
    """
    key, names, budget, eta_value, digit_value, w, seed_value, n_batch, hide = (
        model, schedulers, nfe_budget, eta, digit, guidance_scale, seed, batch_size, quiz)
    bundle = bundle_for(ctx, key)
    if not names:
        raise StudioError("Tick one to three schedulers to compare.")
    if isinstance(names, str):
        names = [names]
    try:
        _, n_budget, w_value, b_value, _ = engine.check_run("DDIM", budget, w, n_batch, eta_value,
                                                             max_steps=ctx.max_steps, max_batch=ctx.max_batch)
    except ValueError:
        n_budget = None  # engine.compare says what is wrong, in its own words
    if n_budget is not None:  # each scheduler spends the same budget of model evaluations
        check_work(ctx, bundle, "DDIM", n_budget, w_value, b_value, runs=len(names))
    runs = engine.compare(bundle, seed=engine.resolve_seed(seed_value), schedulers=list(names), nfe_budget=budget,
                          guidance=w, digit=digit_value, batch=n_batch, eta=eta_value, max_steps=ctx.max_steps,
                          max_batch=ctx.max_batch)
    return views.compared(runs, hide, start="x_T")


def diffusion_reveal(answer=None):
    """The answer to this session's last quiz comparison: which scheduler made each strip. Needs a
    diffusion_compare with quiz=True first."""
    return views.reveal(answer, "diffusion_compare")


def diffusion_forward(ctx, model=None, heldout_index=0, timestep=250, seed=0):
    """q(x_t | x₀) on a held-out MNIST digit at fixed t and at the chosen t.

    Args:
        model: a diffusion model key (its noise schedule is used).
        heldout_index: which held-out digit, 0..999 (MNIST images 9000..9999).
        timestep: the t to show last, 0..T-1.
        seed: the seed of the one noise ε used at every t; -1 draws a fresh one.
    """
    index, t_value, seed_value = heldout_index, timestep, seed
    bundle = bundle_for(ctx, model)
    x, label, mnist_index = heldout_digit(index)
    x0 = pictures.digit_as_x0(bundle, x)
    T = int(engine.make_scheduler(bundle, "DDPM").config.num_train_timesteps)
    t_value = checks.whole_number("t", t_value, 0, T - 1)
    ts = [t for t in FORWARD_TS if t < T] + [t_value]
    out = engine.forward_process(bundle, seed=engine.resolve_seed(seed_value), x0=x0, timesteps=ts)
    strip = pictures.forward_strip(out["x_t"], bundle.sample_size)
    ab = out["alpha_bar"][-1]
    note = N_(f"Digit {label} (MNIST #{mnist_index}). At t = {t_value}: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε = "
              f"**{math.sqrt(ab):.3f}**·x₀ + **{math.sqrt(1 - ab):.3f}**·ε, ᾱ_t = {ab:.4f}, SNR = ᾱ/(1−ᾱ) = "
              f"{out['snr'][-1]:.3g}. One ε (from the seed) is used for every t, so you see the same noise grow.")
    return strip, note


def diffusion_export(ctx, model=None, run=None):
    """This session's last run as a GIF (x_t | x̂₀ per step) and a PNG strip; file paths. Needs a
    diffusion_run first.

    Args:
        model: the diffusion model key of that run.
    """
    if run is None:
        raise StudioError("Run the reverse process first (diffusion_run); export saves this session's last run.")
    return views.export_run(run, "diffusion-export-", "diffusion-run.gif", "diffusion-strip.png")


def diffusion_add_model(ctx, source=""):
    """Add a diffusion model by Hugging Face Hub id (a DDPM-format UNet2DModel + scheduler, e.g.
    google/ddpm-cifar10-32) or a local folder in that format, load it, and select it.

    Args:
        source: the Hub id or the folder's path (safetensors weights only).
    """
    spec, bundle = add_model(ctx.registry, "diffusion", source)
    # an unconditional model (e.g. google/ddpm-cifar10-32) takes no digit: say so in the control
    return gr.update(choices=ctx.registry.keys("diffusion"), value=spec.key), digit_for(bundle.num_classes, "any")


def digit_for(num_classes, current):
    """The Digit control's value for a model: 'none' for an unconditional one; a conditional one keeps the
    user's choice unless it was 'none'."""
    if num_classes == 0:
        return "none"
    return "any" if current == "none" else gr.skip()


def model_changed(ctx, key, current):
    """Picking a model sets the controls to what it can do (an unconditional model takes no digit)."""
    if not key or key not in ctx.registry.keys("diffusion"):
        return gr.skip()
    classes = num_classes_of(ctx.registry, key)
    return gr.skip() if classes is None else digit_for(classes, current)


def diffusion_apply_recipe(ctx, recipe=""):
    """Set every control from a diffusion/run recipe (JSON), as exported by diffusion_run.

    Args:
        recipe: the recipe's JSON text, as the Recipe box shows it.
    """
    r = Recipe.from_tab_box(recipe, family="diffusion", action="run", tab="Diffusion", verb="run")
    ctx.registry.spec(r.model)
    p = dict(DEFAULTS, digit="any", batch=1, eta=0.0) | r.params
    engine.check_run(p["scheduler"], p["steps"], p["guidance"], p["batch"], p["eta"],
                     max_steps=ctx.max_steps, max_batch=ctx.max_batch)
    return (r.model, engine.scheduler_name(p["scheduler"]), p["steps"], p["eta"], str(p["digit"]), p["guidance"],
            r.seed if r.seed is not None else -1, p["batch"])


def build_diffusion_tab(registry, settings) -> None:
    """Lay out the tab's controls and wire them to the handlers above (nothing here computes)."""
    ctx = DiffusionContext.of(registry, settings)
    keys, default_model, max_steps, max_batch = (registry.keys("diffusion"), ctx.default_model, ctx.max_steps,
                                                 ctx.max_batch)
    gr.Markdown(INTRO_MORE)
    with gr.Row():
        model = gr.Dropdown(keys, value=default_model, label="Model", elem_id="diff-model", allow_custom_value=True,
                            scale=2)
        with gr.Column(scale=2):
            hub_id, hub_btn = add_model_box(registry, "diff", "Add a DDPM (UNet2DModel + scheduler): Hub id or folder",
                                            "e.g. google/ddpm-cifar10-32")
    with gr.Row():
        scheduler = gr.Dropdown(list(engine.SCHEDULERS), value=DEFAULTS["scheduler"], label="Scheduler",
                                elem_id="diff-scheduler")
        steps = gr.Slider(2, max_steps, value=min(DEFAULTS["steps"], max_steps), step=1, label="Steps",
                          elem_id="diff-steps")
        eta = views.eta_slider("diff", DEFAULTS["scheduler"])
    with gr.Row():
        digit = gr.Dropdown(list(engine.DIGIT_CHOICES), value="any", label="Digit", elem_id="diff-digit",
                            info="'any': each seed draws its digit; 'none': no class (unconditional)")
        guidance = gr.Slider(0, engine.MAX_GUIDANCE, value=DEFAULTS["guidance"], step=0.25, label="Guidance w",
                             elem_id="diff-guidance")
        seed = gr.Number(value=0, precision=0, label="Seed (image i uses seed + i; -1 = random)", elem_id="diff-seed")
        batch = gr.Slider(1, max_batch, value=min(4, max_batch), step=1, label="Batch size", elem_id="diff-batch")
    sched_note = gr.Markdown(f"**{DEFAULTS['scheduler']}**: {engine.SCHEDULER_NOTES[DEFAULTS['scheduler']]}",
                             elem_id="diff-sched-note")
    with gr.Row():
        run_btn = gr.Button("Run the reverse process", variant="primary", elem_id="diff-run")
        stop_btn = gr.Button("Stop", elem_id="diff-stop", scale=0)
    progress = gr.Markdown(elem_id="diff-progress")
    panels = views.scrubber("diff", ("x_t", "x̂₀ (predicted clean image)", "ε̂ (predicted noise)"), PANEL_NOTE,
                            DEFAULTS["steps"])
    xt_img, x0_img, eps_img, scrub, schedule_img = panels.xt, panels.x0, panels.eps, panels.scrub, panels.schedule
    result = gr.Gallery(label="Result (seed · digit asked · judge's verdict)", columns=4, height="auto",
                        object_fit="contain", format="png", elem_id="diff-result")
    run_state = session_state()
    guide_img, guide_note = views.guidance_view(
        "diff", GUIDANCE_NOTE, "At the scrubbed step, per image (rows): x̂₀ conditional | unconditional | guided, then ε̂ "
                               "in the same order")
    cmp = views.comparison("diff", "seed", schedulers=COMPARE_DEFAULTS["schedulers"], nfe_max=min(100, max_steps),
                           nfe_default=COMPARE_DEFAULTS["nfe_budget"])
    i2i = views.img2img("img2img (SDEdit): start from a digit, noised to a strength",
                        {"source": "diff-i2i-src", "index": "diff-i2i-index", "strength": "diff-i2i-strength",
                         "upload": "diff-i2i-upload", "sketch": "diff-i2i-sketch", "button": "diff-img2img"},
                        "Run img2img (the digit above steers it)")
    with gr.Accordion("The forward process: noise a real digit, q(x_t | x₀)", open=False):
        with gr.Row():
            fwd_index = gr.Number(value=0, precision=0, label="Held-out digit index (0..999)", elem_id="diff-fwd-index")
            fwd_t = gr.Slider(0, 999, value=250, step=1, label="t", elem_id="diff-fwd-t")
            fwd_btn = gr.Button("Add noise", elem_id="diff-forward")
        fwd_strip = gr.Image(label=f"x_t at t = {', '.join(map(str, FORWARD_TS))}, and at your t (last)",
                             format="png", elem_id="diff-fwd-strip")
        fwd_note = gr.Markdown(elem_id="diff-fwd-note")
    with gr.Accordion("Export: GIF, PNG strip, recipe", open=False):
        export = views.export_box("diff", "GIF: x_t | x̂₀ step by step", "PNG strip: x_t over x̂₀ at 10 steps")
    recipe_json, python_code = export.recipe, export.python

    # --- wiring -------------------------------------------------------------------------------------
    controls = [model, scheduler, steps, eta, digit, guidance, seed, batch]
    run_event = run_btn.click(wired(diffusion_run, ctx, gpu=True, replay=True, batched=True), controls,
        [progress, xt_img, x0_img, eps_img, scrub, schedule_img, result, run_state, guide_img, guide_note, recipe_json,
         python_code], api_name="diffusion_run", concurrency_id=HEAVY)
    i2i_event = i2i.button.click(wired(diffusion_img2img, ctx, gpu=True, batched=True), [*controls, *i2i.inputs],
                                 [progress, xt_img, x0_img, eps_img, scrub, schedule_img, result, run_state, guide_img,
                                  guide_note, recipe_json, python_code], api_name="diffusion_img2img",
                                 concurrency_id=HEAVY)
    stop_btn.click(None, None, None, cancels=[run_event, i2i_event], api_visibility="private")
    scrub.change(wired(diffusion_step, ctx),
                 [run_state, scrub], [xt_img, x0_img, eps_img, schedule_img, guide_img, guide_note],
                 api_visibility="private", trigger_mode="always_last")
    cmp.button.click(wired(diffusion_compare, ctx, gpu=True, replay=True),
                     [model, cmp.schedulers, cmp.nfe, eta, digit, guidance, seed, batch, cmp.quiz],
                     [cmp.gallery, cmp.note, cmp.answer], api_name="diffusion_compare", concurrency_id=HEAVY)
    cmp.reveal.click(wired(diffusion_reveal, ctx), cmp.answer, cmp.note, api_name="diffusion_reveal")
    fwd_btn.click(wired(diffusion_forward, ctx),
                  [model, fwd_index, fwd_t, seed], [fwd_strip, fwd_note], api_name="diffusion_forward")
    export.button.click(wired(diffusion_export, ctx),
                        [model, run_state], [export.gif, export.png], api_name="diffusion_export")
    export.apply.click(wired(diffusion_apply_recipe, ctx), recipe_json, controls, api_name="diffusion_apply_recipe")
    hub_btn.click(wired(diffusion_add_model, ctx, gpu=True),
                  hub_id, [model, digit], api_name="diffusion_add_model", concurrency_id=HEAVY)
    model.change(wired(model_changed, ctx), [model, digit], digit, api_visibility="private")
    scheduler.change(views.scheduler_changed, scheduler, [sched_note, eta], api_visibility="private")
