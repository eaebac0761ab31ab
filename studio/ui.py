"""Builds the studio's Blocks from a registry. app.py and the tests both call ``build_studio``."""

from __future__ import annotations

import gradio as gr

from studio import __version__, gradio_fixes, i18n, share
from studio.config import Settings
from studio.ui_common import CLOSE_TOASTS_JS, ERROR_SECONDS
from studio.models_tab import build_models_tab, memory_markdown, status_table
from studio.diffusion.tab import build_diffusion_tab
from studio.explain import explanation
from studio.gan.tab import build_gan_tab
from studio.text.tab import build_text_tab
from studio.vae.tab import build_vae_tab

CSS = """
#studio-title h1 { margin-bottom: 0; }
"""


def build_studio(registry, settings: Settings | None = None, *, localize: bool = True) -> gr.Blocks:
    """The whole app: one tab per family plus the Models tab, all fed by ``registry``. ``localize``: show it
    in the browser's language (English or Simplified Chinese, see studio/i18n.py)."""
    settings = settings or Settings()
    gradio_fixes.install()
    with gr.Blocks(title="Generative Studio") as demo:
        gr.Markdown("# Generative Studio\nExplore and teach generative models: text, VAE, GAN and diffusion, "
                    "on models that run on this machine.", elem_id="studio-title")
        gr.Markdown(f"*v{__version__}*", elem_id="studio-version")
        with gr.Tabs(elem_id="studio-tabs") as tabs:
            with gr.Tab("Text", id="text", elem_id="tab-text") as tab_text:
                explanation("text")
                build_text_tab(registry, settings)
            with gr.Tab("VAE", id="vae", elem_id="tab-vae") as tab_vae:
                explanation("vae")
                build_vae_tab(registry, settings)
            with gr.Tab("GAN", id="gan", elem_id="tab-gan") as tab_gan:
                explanation("gan")
                build_gan_tab(registry, settings)
            with gr.Tab("Diffusion", id="diffusion", elem_id="tab-diffusion") as tab_diffusion:
                explanation("diffusion")
                build_diffusion_tab(registry, settings)
            with gr.Tab("Models", id="models", elem_id="tab-models") as tab_models:
                table, memory = build_models_tab(registry)
        share.install(demo, tabs, {"text": tab_text, "vae": tab_vae, "gan": tab_gan, "diffusion": tab_diffusion,
                                   "models": tab_models})
        for tab in (tab_text, tab_vae, tab_gan, tab_diffusion, tab_models):  # one tab's error stays with it
            tab.select(None, None, None, js=CLOSE_TOASTS_JS, api_visibility="private")
        # Refresh the Models table whenever a page opens (it reflects loads made by other users too).
        demo.load(lambda: (status_table(registry), memory_markdown(registry)), None, [table, memory],
                  api_visibility="private")
    name_input_errors(demo)
    if localize:
        i18n.localize_blocks(demo)
        i18n.install(demo)
    return demo


def name_input_errors(demo: gr.Blocks) -> None:
    """Make every input component's own checks speak clearly: a value a component cannot take (a string for a
    slider, a list for a number, a file that is not an image...) fails in Gradio's preprocessing, before any
    handler runs, and would reach the user as a generic error. Wrap each component's ``preprocess`` so the
    failure becomes a ``gr.Error`` that names the control and says what it takes."""
    for block in demo.blocks.values():
        if not isinstance(block, gr.components.Component) or getattr(block, "_studio_wrapped", False):
            continue
        original = block.preprocess
        label = i18n.english(block.label) or block.elem_id or type(block).__name__
        kind = type(block).__name__

        def preprocess(payload, _original=original, _label=label, _kind=kind):
            try:
                return _original(payload)
            except gr.Error as err:
                raise gr.Error(f"{_label}: {err.message}", print_exception=False, duration=ERROR_SECONDS) from None
            except Exception as err:  # noqa: BLE001 - every failure becomes a message for the user
                shown = repr(payload) if len(repr(payload)) <= 60 else repr(payload)[:57] + "..."
                raise gr.Error(f"{_label}: {shown} is not a value this {_kind.lower()} accepts "
                               f"({type(err).__name__}: {str(err)[:120]}).", print_exception=False, duration=ERROR_SECONDS) from None

        block.preprocess = preprocess
        block._studio_wrapped = True
    if not getattr(demo, "_studio_payload_checks", False):
        _name_payload_errors(demo)
        demo._studio_payload_checks = True


def _describe_bad_payload(block_fn, inputs, err: Exception) -> str:
    """Which input of an event could not be read, and why, for a payload that failed before preprocessing."""
    fn_name = getattr(block_fn, "name", None) or getattr(getattr(block_fn, "fn", None), "__name__", "this action")
    if len(inputs) != len(block_fn.inputs):
        return i18n.N_(f"{fn_name} takes {len(block_fn.inputs)} inputs, got {len(inputs)}.")
    for block, value in zip(block_fn.inputs, inputs):
        model = getattr(block, "data_model", None)
        if model is None or value is None or getattr(block, "stateful", False):
            continue
        try:
            model.model_validate(value, context={"validate_meta": True})
        except Exception:  # noqa: BLE001 - this is the input that failed
            label = i18n.english(block.label) or block.elem_id or type(block).__name__
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            kind = type(block).__name__.lower()
            what = (i18n.N_("a file uploaded to this server (use gradio_client's handle_file)")
                    if kind in ("file", "image", "sketchpad", "imageeditor", "gallery") else i18n.N_(f"a {kind} value"))
            return i18n.N_(f"{label}: {shown} is not {what}.")
    return i18n.N_(f"{fn_name}: an input could not be read ({type(err).__name__}: {str(err)[:160]}).")


def _name_payload_errors(demo: gr.Blocks) -> None:
    """Payloads that fail Gradio's own checks before any component's preprocess (a number where a file belongs,
    a path outside the upload folder, the wrong number of inputs) would reach the user as a generic error. Wrap
    the Blocks' ``preprocess_data`` so those failures name the input and what it takes."""
    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as err:  # noqa: BLE001 - every failure becomes a message for the user
            raise gr.Error(_describe_bad_payload(block_fn, inputs, err), print_exception=False, duration=ERROR_SECONDS) from None

    demo.preprocess_data = preprocess_data


def launch_kwargs() -> dict:
    """Arguments for ``demo.launch`` shared by app.py and the tests (Gradio 6: theme and css go here)."""
    return {"theme": gr.themes.Soft(), "css": CSS, "i18n": i18n.i18n(), "head": i18n.HEAD}
