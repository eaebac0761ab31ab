"""The VAE tab: endpoints three ways, interpolation (lerp vs slerp), a 4-corner grid, the 2-D latent map,
reconstructions, prior samples, and photos through a Hub AutoencoderKL. Wiring only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.checks import whole_number
from studio.data import heldout_digit, open_image, prepare_digit
from studio.errors import StudioError
from studio.i18n import N_
from studio.plots import click_to_z, image_grid, latent_map_image, norm_plot, to_pil, write_gif
from studio.recipe import Recipe
from studio.ui.common import add_model, add_model_box, export_folder, family_bundle, plot_of, session_state, shared_args
from studio.ui.wiring import HEAVY, wired
from studio.vae import engine

SOURCES = ["held-out digit", "upload", "draw"]
DIGIT_CHOICES = ["any", *map(str, range(10))]
SLERP_NOTE = ("**Why slerp?** A d-dimensional Gaussian puts almost all its samples near the sphere of radius √d. "
              "The straight line between two such points cuts inside the sphere, through latents the decoder "
              "rarely saw in training; slerp follows the sphere. The plot shows ‖z‖ along both paths.")


ENDPOINT_A_ARGS = (  # Args: lines shared by several handlers' docstrings (see shared_args)
    'a_source: where endpoint A comes from: "held-out digit", "upload" or "draw".',
    'a_digit: for a held-out digit, its class ("any" or "0".."9").',
    'a_index: for a held-out digit, which one (the index among the held-out digits of that class).',
    'a_upload: for "upload", an image file (any size, mode or format).',
    'a_sketch: for "draw", the sketchpad\'s drawing.',
)
ENDPOINT_B_ARGS = (  # Args: lines shared by several handlers' docstrings (see shared_args)
    'b_source: where endpoint B comes from (as a_source).',
    "b_digit: endpoint B's class (as a_digit).",
    "b_index: endpoint B's index (as a_index).",
    "b_upload: endpoint B's image file.",
    "b_sketch: endpoint B's drawing.",
)

def endpoint_inputs(name: str, default_index: int):
    with gr.Column(min_width=220):
        gr.Markdown(f"**Endpoint {name}**")
        source = gr.Radio(SOURCES, value="held-out digit", label="From", elem_id=f"vae-{name.lower()}-source")
        with gr.Row():
            digit = gr.Dropdown(DIGIT_CHOICES, value="any", label="Digit", elem_id=f"vae-{name.lower()}-digit",
                                min_width=80)
            index = gr.Number(value=default_index, precision=0, label="Index", elem_id=f"vae-{name.lower()}-index",
                              min_width=80)
        upload = gr.File(label="Upload an image (any size, mode or format)", file_types=["image"], type="filepath",
                         height=100, elem_id=f"vae-{name.lower()}-upload")
        sketch = gr.Sketchpad(type="pil", label="Draw", height=220, elem_id=f"vae-{name.lower()}-sketch",
                              canvas_size=(280, 280))
    return [source, digit, index, upload, sketch]


@dataclass(frozen=True)
class VaeContext:
    """What the handlers need besides their arguments: the registry, the limits and the tab's default models
    (a wide-latent digit VAE, a 2-D one for the map, a photo autoencoder). The wiring binds it
    (``studio.ui.common.bind``), so it is never an argument of the call Gradio (or ZeroGPU) sees."""

    registry: object
    max_side: int
    max_pixels: int
    default_model: str | None
    default_2d: str | None
    default_photo: str | None

    @classmethod
    def of(cls, registry, settings) -> "VaeContext":
        specs = registry.specs("vae")
        mnist = [s.key for s in specs if s.loader.startswith("mixin:")]
        photos = [s.key for s in specs if not s.loader.startswith("mixin:")]
        wide = next((s.key for s in specs if s.builtin and "2d" not in s.key), None) or (mnist[0] if mnist else None)
        return cls(registry=registry, max_side=settings.max_grid, max_pixels=settings.max_upload_pixels,
                   default_model=wide, default_2d=next((s.key for s in specs if s.builtin and "2d" in s.key), None),
                   default_photo=photos[0] if photos else None)


# --- helpers (ctx: the tab's VaeContext) -------------------------------------------------------------------
def bundle_for(ctx, key):
    return family_bundle(ctx.registry, key, "vae", "digit VAE", loader_prefix="mixin:")


def endpoint(ctx, name, source, digit, index, upload, sketch):
    """(image tensor (1, 1, 28, 28), description) for one endpoint."""
    try:
        if source == "held-out digit":
            x, _, _ = heldout_digit(index, digit)
            return x, {"heldout": {"index": int(index), "digit": digit}}
        if source == "upload":
            if upload is None:
                raise ValueError("no image uploaded")
            x, _ = prepare_digit(open_image(upload, ctx.max_pixels))
            return x, engine.pixels_spec(x)
        if source == "draw":
            img = sketch.get("composite") if isinstance(sketch, dict) else sketch
            if img is None:
                raise ValueError("the sketch is empty: draw a digit first")
            x, _ = prepare_digit(img)
            return x, engine.pixels_spec(x)
    except ValueError as err:
        raise StudioError(f"Endpoint {name}: {err}") from None
    raise StudioError(f"Endpoint {name}: source must be one of {', '.join(SOURCES)}, got {source!r}.")


def two_endpoints(ctx, a, b):
    xa, da = endpoint(ctx, "A", *a)
    xb, db = endpoint(ctx, "B", *b)
    return engine.stack_digits(xa, xb), [da, db]


def recipe(action, key, params):
    r = Recipe(family="vae", action=action, model=key, params=params, seed=None)
    return r.to_json(), r.to_python()


# --- handlers: what the tab's events call (wrapped in user_errors, and GPU for the heavy ones, when wired) ---
@shared_args(*ENDPOINT_A_ARGS, *ENDPOINT_B_ARGS)
def vae_interpolate(ctx, model=None, steps=10, a_source="held-out digit", a_digit="any", a_index=0,
                a_upload=None, a_sketch=None, b_source="held-out digit", b_digit="any", b_index=1, b_upload=None,
                b_sketch=None):
    """Interpolate between endpoints A and B: lerp and slerp rows, ‖z‖ along both, and A/B as the model sees them.

    Args:
        model: a digit VAE key (e.g. mnist-vae-16d).
        steps: images along the path, 2..16.
    """
    key, n_steps = model, steps
    endpoint_values = (a_source, a_digit, a_index, a_upload, a_sketch, b_source, b_digit, b_index, b_upload, b_sketch)
    images, desc = two_endpoints(ctx, endpoint_values[:5], endpoint_values[5:])
    out = engine.interpolate_images(bundle_for(ctx, key), images=images, steps=int(n_steps))
    n = len(out["t"])
    plot = norm_plot(out["t"], {"lerp": out["lerp_norms"], "slerp": out["slerp_norms"]}, out["sqrt_d"])
    rj, py = recipe("interpolate", key, {"endpoints": desc, "steps": int(n_steps)})
    return (image_grid(out["lerp"], n, scale=3), image_grid(out["slerp"], n, scale=3), plot_of(plot),
            image_grid(images, 2, scale=4), rj, py)


MAX_WALK_STEPS = 64  # frames from A to B in the walk GIF


@shared_args(*ENDPOINT_A_ARGS, *ENDPOINT_B_ARGS)
def vae_grid(ctx, model=None, grid_side=8, corner_c_digit="any", corner_c_index=2,
             corner_d_digit="any", corner_d_index=3, a_source="held-out digit", a_digit="any", a_index=0,
                a_upload=None, a_sketch=None, b_source="held-out digit", b_digit="any", b_index=1, b_upload=None,
                b_sketch=None):
    """An N×N grid mixing four corners bilinearly (one batched decode): A top-left, B top-right, C bottom-left,
    D bottom-right.

    Args:
        model: a digit VAE key.
        grid_side: N, images per side.
        corner_c_digit: corner C's class ("any" or "0".."9"), a held-out digit.
        corner_c_index: corner C's index among the held-out digits of that class.
        corner_d_digit: corner D's class.
        corner_d_index: corner D's index.
    """
    key, n, cd, ci, dd, di = model, grid_side, corner_c_digit, corner_c_index, corner_d_digit, corner_d_index
    endpoint_values = (a_source, a_digit, a_index, a_upload, a_sketch, b_source, b_digit, b_index, b_upload, b_sketch)
    images, _ = two_endpoints(ctx, endpoint_values[:5], endpoint_values[5:])
    xc, _, _ = heldout_digit(ci, cd)
    xd, _, _ = heldout_digit(di, dd)
    n = whole_number("grid side", n, 2, ctx.max_side)  # the server's bound (STUDIO_MAX_GRID), not only the slider's
    out = engine.corner_grid(bundle_for(ctx, key), images=engine.stack_digits(images, xc, xd), n=n)
    return image_grid(out["images"], n, scale=2)


@shared_args(*ENDPOINT_A_ARGS, *ENDPOINT_B_ARGS)
def vae_walk(ctx, model=None, steps=10, a_source="held-out digit", a_digit="any", a_index=0,
                a_upload=None, a_sketch=None, b_source="held-out digit", b_digit="any", b_index=1, b_upload=None,
                b_sketch=None):
    """A looping GIF: slerp from A to B and back.

    Args:
        model: a digit VAE key.
        steps: frames from A to B (up to 64; at least 8 are drawn).
    """
    key, n_steps = model, steps
    endpoint_values = (a_source, a_digit, a_index, a_upload, a_sketch, b_source, b_digit, b_index, b_upload, b_sketch)
    images, _ = two_endpoints(ctx, endpoint_values[:5], endpoint_values[5:])
    n_steps = max(whole_number("steps", n_steps, 2, MAX_WALK_STEPS), 8)  # a walk of fewer than 8 frames is a jump
    out = engine.interpolate_images(bundle_for(ctx, key), images=images, steps=n_steps)
    frames = [to_pil(f, scale=8) for f in out["slerp"]]
    path = export_folder("vae-walk-") / "walk.gif"
    return write_gif(frames + frames[-2:0:-1], path, duration_ms=90)


@shared_args(*ENDPOINT_A_ARGS, *ENDPOINT_B_ARGS)
def vae_map(ctx, model=None, grid_side=15, extent=2.5, spacing="quantile", a_source="held-out digit", a_digit="any", a_index=0,
                a_upload=None, a_sketch=None, b_source="held-out digit", b_digit="any", b_index=1, b_upload=None,
                b_sketch=None):
    """The 2-D latent map with held-out encodings (and the A→B path when the endpoints are given).

    Args:
        model: a VAE with a 2-D latent (e.g. mnist-vae-2d).
        grid_side: decoded images per side of the map.
        extent: the range shown, ±z ("linear") or ±σ ("quantile").
        spacing: "linear" (equal steps in z) or "quantile" (equal prior probability per cell).
    """
    key, n, ext, spc = model, grid_side, extent, spacing
    endpoint_values = (a_source, a_digit, a_index, a_upload, a_sketch, b_source, b_digit, b_index, b_upload, b_sketch)
    b = bundle_for(ctx, key)
    out = engine.latent_map(b, n=int(n), extent=float(ext), spacing=spc)
    try:  # the A→B path on the map
        images, _ = two_endpoints(ctx, endpoint_values[:5], endpoint_values[5:])
        path = engine.interpolate_images(b, images=images, steps=12)["lerp_z"].numpy()
    except StudioError:
        path = None  # the map is still useful without a path
    img, geom = latent_map_image(out["images"], out["axis"], out["heldout_z"].numpy(),
                                 out["heldout_labels"].tolist(), path_z=path)
    return img, geom


def vae_map_click(ctx, key, geom, evt: gr.SelectData):
    if not geom or evt.index is None:
        return gr.skip(), gr.skip()
    z = click_to_z(geom, float(evt.index[0]), float(evt.index[1]))
    if z is None:
        return gr.skip(), N_("Click inside the map.")
    img = engine.decode_points(bundle_for(ctx, key).model, [z])
    return to_pil(img[0], scale=5), N_(f"Decoded z = ({z[0]:.2f}, {z[1]:.2f})")


@shared_args(*ENDPOINT_A_ARGS)
def vae_reconstruct(ctx, model=None, seed=0, a_source="held-out digit", a_digit="any", a_index=0,
                    a_upload=None, a_sketch=None):
    """Endpoint A, its reconstruction from μ, and samples from q(z|x).

    Args:
        model: a digit VAE key.
        seed: the seed of the samples z = μ + σε; -1 draws a fresh one.
    """
    key, seed_value = model, seed
    x, _ = endpoint(ctx, "A", a_source, a_digit, a_index, a_upload, a_sketch)
    out = engine.reconstruct(bundle_for(ctx, key), seed=engine.resolve_seed(seed_value), images=x, samples=6)
    row = out["row"]
    mu = ", ".join(f"{v:.2f}" for v in out["mu"][:8])
    sg = ", ".join(f"{v:.2f}" for v in out["sigma"][:8])
    more = " …" if len(out["mu"]) > 8 else ""
    return image_grid(row, len(row), scale=3), f"μ = ({mu}{more})  \nσ = ({sg}{more})"


def vae_prior(ctx, model=None, seed=0):
    """16 digits decoded from z ~ N(0, I).

    Args:
        model: a digit VAE key.
        seed: the seed of the 16 draws; -1 draws a fresh one.
    """
    key, seed_value = model, seed
    out = engine.sample_prior(bundle_for(ctx, key), seed=engine.resolve_seed(seed_value), n=16)
    return image_grid(out["images"], 8, scale=3)


def vae_photos(ctx, model=None, photo_a=None, photo_b=None):
    """Interpolate two photos through an AutoencoderKL (e.g. stabilityai/sd-vae-ft-mse): lerp and slerp rows.

    Args:
        model: an AutoencoderKL key, Hub id or folder (a typed Hub id or folder is added).
        photo_a: the first photo (an image file).
        photo_b: the second photo.
    """
    key, a, b = model, photo_a, photo_b
    if a is None or b is None:
        raise StudioError("Upload two photos (Photo A and Photo B), then interpolate.")
    if not key:
        raise StudioError("No photo autoencoder is available: add one (e.g. stabilityai/sd-vae-ft-mse, or a "
                          "folder saved with AutoencoderKL.save_pretrained) in the box above.")
    bundle = family_bundle(ctx.registry, key, "vae", "photo autoencoder (AutoencoderKL)",
                           loader_prefix="diffusers-autoencoderkl")
    out = engine.interpolate_photos(bundle, images=[open_image(a, ctx.max_pixels), open_image(b, ctx.max_pixels)], steps=6)
    return out["lerp"], out["slerp"]


def vae_add_model(ctx, source=""):
    """Add a photo autoencoder (a diffusers AutoencoderKL) by Hugging Face Hub id or local folder, load it,
    and select it in the photos picker. A folder in the studio's digit-VAE format goes to the digit pickers.

    Args:
        source: the Hub id (e.g. stabilityai/sd-vae-ft-mse) or the folder's path (safetensors weights only).
    """
    spec, _ = add_model(ctx.registry, "vae", source)
    digits = [s.key for s in ctx.registry.specs("vae") if s.loader.startswith("mixin:")]
    photos = [s.key for s in ctx.registry.specs("vae") if not s.loader.startswith("mixin:")]
    if spec.loader.startswith("mixin:"):
        return gr.update(choices=photos), gr.update(choices=digits, value=spec.key), gr.update(choices=digits)
    return gr.update(choices=photos, value=spec.key), gr.update(choices=digits), gr.update(choices=digits)


def endpoints_preview(ctx, *values):
    try:
        images, _ = two_endpoints(ctx, values[:5], values[5:])
        return image_grid(images, 2, scale=4)
    except StudioError:
        return gr.skip()


def build_vae_tab(registry, settings) -> None:
    """Lay out the tab's controls and wire them to the handlers above (nothing here computes)."""
    ctx = VaeContext.of(registry, settings)
    mnist_keys = [s.key for s in registry.specs("vae") if s.loader.startswith("mixin:")]
    photo_keys = [s.key for s in registry.specs("vae") if not s.loader.startswith("mixin:")]
    default_wide, default_2d, max_side = ctx.default_model, ctx.default_2d, ctx.max_side
    gr.Markdown("A VAE squeezes each digit into a small latent vector z and decodes z back into a digit. Pick two "
                "digits (from the held-out set, an upload, or your own drawing) and walk between their latents.")
    with gr.Row():
        model = gr.Dropdown(mnist_keys, value=default_wide, label="VAE", elem_id="vae-model", allow_custom_value=True)
        steps = gr.Slider(2, 16, value=10, step=1, label="Images along the path", elem_id="vae-steps")
        side = gr.Slider(2, max_side, value=min(8, max_side), step=1, label="Grid side N (4-corner grid)", elem_id="vae-side")
    with gr.Row():
        a_inputs = endpoint_inputs("A", 0)
        b_inputs = endpoint_inputs("B", 1)
        with gr.Column(min_width=220):
            gr.Markdown("**Corners C and D** (grid only: A top-left, B top-right, C bottom-left, D bottom-right)")
            c_digit = gr.Dropdown(DIGIT_CHOICES, value="any", label="C digit", elem_id="vae-c-digit")
            c_index = gr.Number(value=2, precision=0, label="C index", elem_id="vae-c-index")
            d_digit = gr.Dropdown(DIGIT_CHOICES, value="any", label="D digit", elem_id="vae-d-digit")
            d_index = gr.Number(value=3, precision=0, label="D index", elem_id="vae-d-index")
            seen = gr.Image(label="A and B as the model sees them (28×28)", format="png", elem_id="vae-seen",
                            height=120)
    with gr.Row():
        interp_btn = gr.Button("Interpolate A → B", variant="primary", elem_id="vae-interpolate")
        grid_btn = gr.Button("N×N grid from A, B, C, D", elem_id="vae-grid")
        walk_btn = gr.Button("Walk A → B → A (GIF)", elem_id="vae-walk")
    lerp_img = gr.Image(label="lerp (straight line)", format="png", elem_id="vae-lerp")
    slerp_img = gr.Image(label="slerp (along the sphere)", format="png", elem_id="vae-slerp")
    gr.Markdown(SLERP_NOTE)
    norms = gr.Plot(label="‖z‖ along the path", elem_id="vae-norms")
    grid_img = gr.Image(label="Bilinear grid (download: PNG)", format="png", elem_id="vae-grid-image")
    walk_gif = gr.Image(label="Walk (download: GIF)", type="filepath", elem_id="vae-walk-gif")
    with gr.Accordion("The 2-D latent map", open=True):
        gr.Markdown("The decoder's output over a grid of z (2-D VAE), with every held-out digit's encoding on the same "
                    "axes, coloured by its label. **Click the map** to decode that point. Gaussian-quantile spacing "
                    "gives each grid cell equal prior probability.")
        with gr.Row():
            map_model = gr.Dropdown([k for k in mnist_keys], value=default_2d, label="2-D VAE", elem_id="vae-map-model",
                                    allow_custom_value=True)
            map_n = gr.Slider(4, 30, value=15, step=1, label="Grid side", elem_id="vae-map-n")
            extent = gr.Slider(0.5, 5.0, value=2.5, step=0.1, label="Range (±z, or ±σ for quantiles)",
                               elem_id="vae-map-extent")
            spacing = gr.Radio(list(engine.SPACINGS), value="quantile", label="Spacing", elem_id="vae-map-spacing")
            map_btn = gr.Button("Draw the map", elem_id="vae-map")
        map_geom = session_state()
        map_img = gr.Image(label="Latent map (click to decode)", format="png", interactive=False, elem_id="vae-map-image")
        with gr.Row():
            clicked = gr.Image(label="Decoded at the click", format="png", elem_id="vae-clicked", height=160)
            clicked_z = gr.Markdown(elem_id="vae-clicked-z")
    with gr.Accordion("Reconstruction and prior samples", open=False):
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="vae-seed")
            recon_btn = gr.Button("Reconstruct endpoint A", elem_id="vae-reconstruct")
            prior_btn = gr.Button("Sample 16 digits from the prior N(0, I)", elem_id="vae-prior")
        recon_img = gr.Image(label="input | decoded μ | decoded samples z = μ + σε", format="png", elem_id="vae-recon")
        recon_stats = gr.Markdown(elem_id="vae-recon-stats")
        prior_img = gr.Image(label="Prior samples", format="png", elem_id="vae-prior-image")
    with gr.Accordion("Photos through a Hub autoencoder (e.g. stabilityai/sd-vae-ft-mse)", open=False):
        with gr.Row():
            photo_model = gr.Dropdown(photo_keys, value=photo_keys[0] if photo_keys else None, label="Autoencoder",
                                      allow_custom_value=True, elem_id="vae-photo-model")
            photo_a = gr.File(label="Photo A", file_types=["image"], type="filepath", elem_id="vae-photo-a", height=100)
            photo_b = gr.File(label="Photo B", file_types=["image"], type="filepath", elem_id="vae-photo-b", height=100)
        with gr.Row():
            add_box, add_btn = add_model_box(registry, "vae", "Add an AutoencoderKL: Hub id or folder",
                                             "e.g. stabilityai/sd-vae-ft-mse")
        photo_btn = gr.Button("Interpolate the photos", elem_id="vae-photos")
        photo_lerp = gr.Gallery(label="lerp", columns=6, format="png", elem_id="vae-photo-lerp")
        photo_slerp = gr.Gallery(label="slerp", columns=6, format="png", elem_id="vae-photo-slerp")
    with gr.Accordion("Recipe", open=False):
        recipe_json = gr.Code(language="json", label="Recipe", elem_id="vae-recipe")
        python_code = gr.Code(language="python", label="Reproduce with the engine", elem_id="vae-python")

        ends = [*a_inputs, *b_inputs]
    interp_btn.click(wired(vae_interpolate, ctx, gpu=True, replay=True, batched=True),
                     [model, steps, *ends], [lerp_img, slerp_img, norms, seen, recipe_json, python_code],
                     api_name="vae_interpolate", concurrency_id=HEAVY)
    grid_btn.click(wired(vae_grid, ctx, gpu=True, replay=True, batched=True, grid_side=min(8, max_side)),
                   [model, side, c_digit, c_index, d_digit, d_index, *ends], grid_img, api_name="vae_grid",
                   concurrency_id=HEAVY)
    walk_btn.click(wired(vae_walk, ctx, gpu=True, replay=True),
                   [model, steps, *ends], walk_gif, api_name="vae_walk", concurrency_id=HEAVY)
    map_btn.click(wired(vae_map, ctx, gpu=True, replay=True, model=ctx.default_2d),
                  [map_model, map_n, extent, spacing, *ends], [map_img, map_geom], api_name="vae_map",
                  concurrency_id=HEAVY)
    map_img.select(wired(vae_map_click, ctx), [map_model, map_geom], [clicked, clicked_z], api_visibility="private")
    recon_btn.click(wired(vae_reconstruct, ctx, gpu=True, replay=True),
                    [model, seed, *a_inputs], [recon_img, recon_stats], api_name="vae_reconstruct",
                    concurrency_id=HEAVY)
    prior_btn.click(wired(vae_prior, ctx, gpu=True, replay=True, batched=True),
                    [model, seed], prior_img, api_name="vae_prior", concurrency_id=HEAVY)
    photo_btn.click(wired(vae_photos, ctx, gpu=True, replay=True, model=ctx.default_photo),
                    [photo_model, photo_a, photo_b], [photo_lerp, photo_slerp], api_name="vae_photos",
                    concurrency_id=HEAVY)
    add_btn.click(wired(vae_add_model, ctx, gpu=True),
                  add_box, [photo_model, model, map_model], api_name="vae_add_model",
                  concurrency_id=HEAVY)
    for comp in ends:  # show A and B as the model sees them whenever an endpoint changes (uploads, drawings too)
        if isinstance(comp, (gr.Radio, gr.Dropdown, gr.Number, gr.File, gr.Sketchpad)):
            comp.change(wired(endpoints_preview, ctx), ends, seen, api_visibility="private", trigger_mode="always_last")
