"""A text-to-image picture's recipe: written into every result PNG and exported strip (a text chunk), read back from
a dropped PNG without decoding its pixels, and applied to the tab's controls, saying what could not be restored.

AUTOMATIC1111's web UI made "settings from a picture" (PNG Info) what people expect of a text-to-image tool; here
the recipe is the same JSON the Recipe box shows (studio/recipe.py), so a picture, a link and a notebook agree.
"""

from __future__ import annotations

import gradio as gr

from studio.device import offset_seed
from studio.diffusion.loop import SCHEDULERS
from studio.errors import StudioError
from studio.i18n import N_
from studio.recipe import Recipe

RECIPE_CHUNK = "generative-studio-recipe"  # the PNG text chunk that carries a picture's recipe


def image_recipe(key, run, i, extra: dict | None = None) -> Recipe:
    """The recipe of image i of a run alone: its own seed, batch 1 (what reproduces that one picture); ``extra``:
    what the engine call needs besides the run's settings (img2img's starting picture)."""
    p = {k: v for k, v in run.settings.items() if k != "batch"} | (extra or {})
    p["batch"] = 1
    if "variation_seed" in p:
        p["variation_seed"] = offset_seed(p["variation_seed"], i)  # image i slerps towards variation seed + i
    return Recipe(family="t2i", action="img2img" if "strength" in p else "run", model=key, params=p,
                  seed=run.seeds[i])


def with_recipe(image, recipe: Recipe):
    """A PIL picture carrying its recipe in a PNG text chunk (Gradio keeps text chunks when it saves a PNG)."""
    image.info[RECIPE_CHUNK] = recipe.to_json(indent=None)
    return image


def recipe_in_png(path) -> Recipe:
    """The recipe a picture made here carries in its PNG text chunk: read from the chunks before the pixels (where
    the studio writes it), the size checked from the header first; no pixel, and no frame of an animation, is
    decoded."""
    from studio.data import image_header

    if path is None:
        raise StudioError("Drop a PNG made by this tab (a result picture or an exported strip).")
    try:
        with image_header(path) as img:
            text = img.info.get(RECIPE_CHUNK)  # (img.text would decode the whole image to reach later chunks)
    except ValueError as err:
        raise StudioError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - anything unreadable is a message
        raise StudioError(N_(f"That file is not a picture the studio can read ({type(err).__name__}).")) from None
    if not text:
        raise StudioError(N_("This picture carries no recipe: only PNGs saved from this tab's results or export "
                             "hold one (a screenshot or a re-saved copy loses it)."))
    recipe = Recipe.from_json(text)
    if recipe.family != "t2i":
        raise StudioError(N_(f"This picture's recipe is for the {recipe.family} family, not text to image."))
    return recipe


def t2i_apply_recipe(ctx, recipe=""):
    """Set every control from a t2i recipe (JSON), as the Recipe box shows it.

    Args:
        recipe: the recipe's JSON text.
    """
    r = Recipe.from_tab_box(recipe, family="t2i", action="run", tab="Text to image", verb="run")
    values, note = controls_of(ctx, r)
    return (*values, note)


def t2i_restore(ctx, picture=None):
    """Read the recipe a PNG made by this tab carries and set the controls from it; says what it could not restore.

    Args:
        picture: a PNG file saved from this tab (a result or an exported strip).
    """
    r = recipe_in_png(picture)
    values, note = controls_of(ctx, r)
    return (*values, note)


CONTROLS = ("prompt", "negative_prompt", "scheduler", "steps", "eta", "guidance", "batch", "height", "width",
            "variation_seed", "variation_strength")


def controls_of(ctx, r: Recipe):
    """The tab's controls from a recipe, and a note of what was restored and what could not be."""
    p = dict(r.params)
    missing = []
    model = r.model
    if model not in ctx.registry.keys("t2i"):
        missing.append(N_(f"the model {model!r} (not on this server: the current model is kept)"))
        model = gr.skip()
    if p.get("scheduler") not in SCHEDULERS:
        missing.append(N_(f"the scheduler {p.get('scheduler')!r}"))
    for name, hi in (("steps", ctx.max_steps), ("batch", ctx.max_batch)):
        if isinstance(p.get(name), int) and p[name] > hi:
            missing.append(N_(f"{name} = {p[name]} (this server allows at most {hi})"))
            p.pop(name)
    if "strength" in p:
        missing.append(N_(f"img2img's starting picture (strength {p['strength']:g}): the recipe does not hold it"))
    values = (model, p.get("prompt", gr.skip()), p.get("negative_prompt", gr.skip()),
              p["scheduler"] if p.get("scheduler") in SCHEDULERS else gr.skip(), p.get("steps", gr.skip()),
              p.get("eta", gr.skip()), p.get("guidance", gr.skip()), r.seed if r.seed is not None else gr.skip(),
              p.get("batch", gr.skip()), p.get("height") or gr.skip(), p.get("width") or gr.skip(),
              p.get("variation_seed", -1), p.get("variation_strength", 0.0))
    note = N_(f"Restored from the recipe: seed {r.seed}, “{p.get('prompt', '')}”.")
    if missing:
        note += " " + N_("Not restored: ") + "; ".join(missing) + "."
    return values, note
