"""What the Diffusion tab (pixels, a class label) and the Text to image tab (a latent, a prompt) show alike, built
once: the scheduler's note and η, the step scrubber (x_t | x̂₀ | ε̂ and where the step sits on the noise schedule),
the guidance view, the scheduler comparison at equal model evaluations with its quiz, img2img's starting picture,
and the export box.

Each builder lays out one view with what differs between the tabs passed in (the elem_id prefix, the labels, the
notes) and returns its components, for the tab to wire to its own handlers; the handlers here are the parts of those
handlers that do not depend on the family (a run record is a ``studio.diffusion.loop.DenoisingRun`` either way).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.data import heldout_digit, open_image, prepare_digit
from studio.diffusion import pictures
from studio.diffusion.loop import ETA_SCHEDULERS, SCHEDULER_NOTES, SCHEDULERS
from studio.errors import StudioError
from studio.i18n import N_, figure_lang
from studio.plots import figure_to_image, schedule_plot, write_gif
from studio.ui.common import export_folder, quiz_order, session_state

ETA_INFO = "used by DDIM: 0 = deterministic, 1 = as noisy as DDPM"
SOURCES = ("held-out digit", "upload", "drawing")


# --- handlers (plain functions of a run, or of what a request sent) -----------------------------------------------
def scheduler_changed(name):
    """The scheduler's note, and the η slider enabled exactly for the schedulers that take η (loop.ETA_SCHEDULERS)."""
    if name not in SCHEDULERS:
        return gr.skip(), gr.skip()
    uses_eta = name in ETA_SCHEDULERS
    return (N_(f"**{name}**: {SCHEDULER_NOTES[name]}"),
            gr.update(interactive=uses_eta, info=None if uses_eta else ETA_INFO))


SCHEDULE_IMAGES_KEPT = 16  # schedule pictures remembered (0.47 MB of pixels each: 7.5 MB at most)
_SCHEDULE_IMAGES: "OrderedDict[tuple, object]" = OrderedDict()
_SCHEDULE_LOCK = threading.Lock()


def schedule_image(run, k):
    """The noise schedule with step k ringed, as a picture. It depends only on the model's ᾱ curve, the run's
    timesteps, k and the plot's language, which a class shares (every student on the same model, scheduler and
    steps), so each picture is drawn once (matplotlib was a tenth of a served Run) and handed out again."""
    key = (hash(tuple(run.schedule["alpha_bar"])), tuple(run.timesteps), int(k), figure_lang())
    with _SCHEDULE_LOCK:
        image = _SCHEDULE_IMAGES.get(key)
        if image is not None:
            _SCHEDULE_IMAGES.move_to_end(key)
            return image.copy()
    image = figure_to_image(schedule_plot(run.schedule, run.timesteps, k))
    with _SCHEDULE_LOCK:
        _SCHEDULE_IMAGES[key] = image
        while len(_SCHEDULE_IMAGES) > SCHEDULE_IMAGES_KEPT:
            _SCHEDULE_IMAGES.popitem(last=False)
    return image.copy()


def scrub_outputs(run, k, guidance_panel):
    """Step k of a kept run for the scrubber's outputs: x_t, x̂₀, ε̂, the schedule, and the tab's guidance panel
    (``guidance_panel(run, k)`` -> picture, note: the tabs say what the guidance rows are in their own words)."""
    xt, x0, eps = pictures.panels(run, k)
    g_img, g_note = guidance_panel(run, k)
    return xt, x0, eps, schedule_image(run, k), g_img, g_note


def compared(runs, hide: bool, *, start: str):
    """The comparison's strips, its note and, for a quiz (``hide``), the strips shuffled (by the run's seed, so a class
    sees the same order again) with the names hidden and the answer kept for Reveal. ``start``: what the runs
    share ("x_T" for pixels, "z_T" for latents)."""
    items = [(pictures.compare_strip(r), N_(f"{r.scheduler}: {r.steps} steps") + " · "
              + N_(f"{r.nfe} model evaluations per image")) for r in runs]
    same = N_("checked: identical") if pictures.same_start(runs) else N_("NOT identical")
    note = (N_(f"All runs start from the same {start} ({same}) with seed {runs[0].seeds[0]}; Heun spends two "
               f"evaluations per step, so it gets half the steps.") + "\n\n"
            + " · ".join(N_(f"{r.scheduler}: NFE {r.nfe}") for r in runs))
    if not hide:
        return items, note, None
    order = quiz_order(len(items), runs[0].seeds[0])
    letters = "ABC"
    answer = "\n".join(N_(f"**{letters[i]}** = {items[j][1]}") for i, j in enumerate(order))
    hidden = [(items[j][0], N_(f"Strip {letters[i]}")) for i, j in enumerate(order)]
    names_shown = ", ".join(sorted(r.scheduler for r in runs))
    return hidden, N_(f"Which scheduler made which strip? The candidates: {names_shown}, all at "
                      f"{runs[0].nfe} model evaluations per image. Discuss, then press **Reveal**."), answer


def reveal(answer, compare_endpoint: str):
    """The answer kept by the session's last quiz comparison; ``compare_endpoint`` names the call that makes one."""
    if not answer:
        raise StudioError(N_(f"Nothing to reveal yet. Run a comparison with the quiz box ticked ({compare_endpoint} "
                             "with quiz=True) first, then press Reveal."))
    return answer


def img2img_source(size: int, channels: int, source, heldout_index, upload, sketch):
    """img2img's starting picture as a model input (1, channels, size, size) in [-1, 1], and what it is: a held-out
    digit, or an upload or drawing (centred and scaled as MNIST digits are for a grey model; resized, for a colour
    one)."""
    if source == "held-out digit":
        x, label, index = heldout_digit(heldout_index)
        return pictures.starting_picture(size, channels, digit=x), N_(f"held-out digit {label} (MNIST #{index})")
    if source not in ("upload", "drawing"):
        raise StudioError(f"source must be 'held-out digit', 'upload' or 'drawing', got {source!r}.")
    image = upload if source == "upload" else (sketch.get("composite") if isinstance(sketch, dict) else sketch)
    if image is None:
        raise StudioError(N_(f"Choose a picture first: the {source} is empty."))
    if isinstance(image, (str, Path)):  # an upload: its size checked from the header before it is decoded
        image = open_image(image)
    if channels == 1:  # a digit model
        return pictures.starting_picture(size, channels, digit=prepare_digit(image)[0]), N_(f"the {source}")
    from PIL import Image

    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    return pictures.starting_picture(size, channels, image=pil), N_(f"the {source}")


def export_run(run, folder_prefix: str, gif_name: str, png_name: str, png_text: dict | None = None):
    """A kept run as a GIF (x_t or z_t | x̂₀ per step) and a PNG strip (x_t over x̂₀ at ten steps), in a fresh export
    folder; ``png_text``: text chunks the PNG carries (a picture's recipe). Returns both paths."""
    folder = export_folder(folder_prefix)
    gif = write_gif(pictures.export_frames(run), folder / gif_name, duration_ms=max(40, min(200, 4000 // run.steps)))
    png = folder / png_name
    strip = pictures.export_strip(run)
    if png_text:
        from PIL import PngImagePlugin

        meta = PngImagePlugin.PngInfo()
        for key, value in png_text.items():
            meta.add_text(key, value)
        strip.save(png, pnginfo=meta)
    else:
        strip.save(png)
    return gif, str(png)


# --- builders (call inside the tab's layout) ----------------------------------------------------------------------
def eta_slider(prefix: str, scheduler: str) -> gr.Slider:
    """DDIM's η, enabled when the tab's first scheduler takes it (scheduler_changed keeps it so afterwards)."""
    uses_eta = scheduler in ETA_SCHEDULERS
    return gr.Slider(0, 1, value=0, step=0.05, label="η (DDIM only)", elem_id=f"{prefix}-eta", interactive=uses_eta,
                     info=None if uses_eta else ETA_INFO)


@dataclass
class Scrubber:
    xt: gr.Image
    x0: gr.Image
    eps: gr.Image
    scrub: gr.Slider
    schedule: gr.Image


def scrubber(prefix: str, labels: tuple[str, str, str], note: str, steps: int, between=None) -> Scrubber:
    """The three panels of a step (x_t or z_t | x̂₀ | ε̂), their note, the step slider and the schedule picture;
    ``between()`` lays out what the tab shows between the slider and the schedule (Text to image: a full decode)."""
    with gr.Row():
        xt = gr.Image(label=labels[0], format="png", elem_id=f"{prefix}-xt", height=300)
        x0 = gr.Image(label=labels[1], format="png", elem_id=f"{prefix}-x0", height=300)
        eps = gr.Image(label=labels[2], format="png", elem_id=f"{prefix}-eps", height=300)
    gr.Markdown(note)
    scrub = gr.Slider(1, max(steps, 2), value=1, step=1, label="Step (scrub after a run; no recomputing)",
                      elem_id=f"{prefix}-scrub")
    if between is not None:
        between()
    schedule = gr.Image(label="Noise schedule: where this step sits", format="png", elem_id=f"{prefix}-schedule")
    return Scrubber(xt, x0, eps, scrub, schedule)


def guidance_view(prefix: str, note: str, label: str):
    """The "Guidance made visible" accordion: the tab's note, the per-image picture at the scrubbed step, its line."""
    with gr.Accordion("Guidance made visible", open=False):
        gr.Markdown(note)
        image = gr.Image(label=label, format="png", elem_id=f"{prefix}-guidance-view")
        line = gr.Markdown(elem_id=f"{prefix}-guidance-note")
    return image, line


@dataclass
class Comparison:
    schedulers: gr.CheckboxGroup
    nfe: gr.Slider
    button: gr.Button
    quiz: gr.Checkbox
    reveal: gr.Button
    answer: gr.State
    gallery: gr.Gallery
    note: gr.Markdown


def comparison(prefix: str, same: str, *, schedulers, nfe_max: int, nfe_default: int) -> Comparison:
    """The scheduler comparison at equal model evaluations, with its predict-then-reveal quiz; ``same``: what the
    compared runs share besides the starting noise ("seed", "prompt")."""
    with gr.Accordion(f"Compare schedulers: same {same}, same starting noise, same number of model evaluations",
                      open=False):
        with gr.Row():
            names = gr.CheckboxGroup(list(SCHEDULERS), value=list(schedulers), label="Schedulers (up to 3)",
                                     elem_id=f"{prefix}-cmp-schedulers")
            nfe = gr.Slider(2, nfe_max, value=nfe_default, step=1,
                            label="Model evaluations per image (NFE, before guidance)", elem_id=f"{prefix}-cmp-nfe")
            button = gr.Button("Compare", elem_id=f"{prefix}-compare")
        with gr.Row():
            quiz = gr.Checkbox(value=False, label="Predict, then reveal: hide which scheduler made each strip "
                                                  "(shuffled, labelled A, B, C) until Reveal", elem_id=f"{prefix}-quiz")
            reveal_btn = gr.Button("Reveal", elem_id=f"{prefix}-reveal", scale=0)
        answer = session_state()
        gallery = gr.Gallery(label="x̂₀ across the run (columns: steps, then the result; rows: images)", columns=1, height="auto", object_fit="contain", format="png",
                             elem_id=f"{prefix}-cmp")
        note = gr.Markdown(elem_id=f"{prefix}-cmp-note")
    return Comparison(names, nfe, button, quiz, reveal_btn, answer, gallery, note)


@dataclass
class Img2Img:
    source: gr.Radio
    index: gr.Number
    strength: gr.Slider
    upload: gr.Image
    sketch: gr.Sketchpad
    button: gr.Button

    @property
    def inputs(self) -> list:
        """In the order the img2img handlers take them after the run's controls."""
        return [self.source, self.index, self.upload, self.sketch, self.strength]


def img2img(title: str, ids: dict[str, str], button: str) -> Img2Img:
    """img2img (SDEdit): where the picture comes from (a held-out digit, an upload, a drawing) and how strongly it is
    noised. ``ids``: the elem_ids of source, index, strength, upload, sketch and button (links carry them)."""
    with gr.Accordion(title, open=False):
        with gr.Row():
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Start from", elem_id=ids["source"])
            index = gr.Number(value=0, precision=0, label="Held-out digit index (0..999)", elem_id=ids["index"])
            strength = gr.Slider(0.05, 1, value=0.6, step=0.05, label="Strength (1 = the picture forgotten)",
                                 elem_id=ids["strength"])
        with gr.Row():
            upload = gr.Image(type="filepath", label="Upload", elem_id=ids["upload"], height=160)
            sketch = gr.Sketchpad(type="pil", label="Drawing", elem_id=ids["sketch"], height=200)
        btn = gr.Button(button, elem_id=ids["button"])
    return Img2Img(source, index, strength, upload, sketch, btn)


@dataclass
class Export:
    button: gr.Button
    gif: gr.File
    png: gr.File
    recipe: gr.Code
    python: gr.Code
    apply: gr.Button


def export_box(prefix: str, gif_label: str, png_label: str) -> Export:
    """Export the last run (GIF, PNG strip), its recipe and the Python that reproduces it, and Apply (a recipe back to
    the controls). Call it inside the tab's export accordion, which may hold more (Text to image: a PNG dropped)."""
    with gr.Row():
        button = gr.Button("Export the last run", elem_id=f"{prefix}-export")
    with gr.Row():
        gif = gr.File(label=gif_label, elem_id=f"{prefix}-gif")
        png = gr.File(label=png_label, elem_id=f"{prefix}-png")
    recipe = gr.Code(value="", language="json", label="Recipe", elem_id=f"{prefix}-recipe")
    python = gr.Code(language="python", label="Reproduce with the engine", elem_id=f"{prefix}-python")
    apply = gr.Button("Apply this recipe to the controls", elem_id=f"{prefix}-apply")
    return Export(button, gif, png, recipe, python, apply)
